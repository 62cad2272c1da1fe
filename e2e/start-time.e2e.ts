// How long a class waits on the tiny preset before anything moves (issue 15, "starting in seconds"): from opening
// the page to Play being enabled (the trainer built, phase 'paused'), and from clicking Play to the first finished
// step (data-step ≥ 1), on whatever adapter the browser has (SwiftShader here). It prints the times as one JSON line,
// `[start-time] {…}`, and the worker's own breakdown (`[start-time-worker] {…}`, from data-startup) for docs/results-cpu.md; it asserts only that the page gets there, never how fast (speed goals
// are met in benchmarks, not by timed assertions).
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 1180 } });
});

afterAll(async () => {
  await browser?.close();
});

/** Opens the tiny preset (or reloads it), waits for Play, plays, waits for the first step: the wall-clock times and the worker's breakdown. */
async function timeToFirstStep(open: () => Promise<unknown>): Promise<{ times: Record<string, string | number>; startup: () => Promise<Record<string, number>> }> {
  const t0 = performance.now();
  await open();
  await page.locator('[data-testid="statusbar"][data-gpu-status="ready"]').waitFor({ timeout: 60_000 });
  const adapter = `${await page.getByTestId('adapter-name').textContent()} (${await page.getByTestId('adapter-kind').textContent()})`;
  const play = page.getByRole('toolbar', { name: 'Transport' }).getByRole('button', { name: 'Play', exact: true });
  await page.locator('[data-testid="train-status"][data-phase="paused"]').waitFor({ timeout: 300_000 });
  await expect.poll(() => play.isEnabled(), { timeout: 10_000 }).toBe(true);
  const ready = performance.now();
  await play.click();
  await page.locator('[data-testid="train-status"]:not([data-step="0"])').waitFor({ timeout: 300_000 });
  const firstStep = performance.now();
  expect(Number(await page.getByTestId('train-status').getAttribute('data-step'))).toBeGreaterThanOrEqual(1);
  const times = { adapter, open_to_play_s: (ready - t0) / 1000, play_to_first_step_s: (firstStep - ready) / 1000, open_to_first_step_s: (firstStep - t0) / 1000 };
  // The worker's own breakdown (TrainStatus.startup: device, dataset, build and its pipeline count, Play → first step),
  // fairer than the wall clock on a loaded machine; then the baselines measured after the first step.
  const startup = async () => JSON.parse((await page.getByTestId('train-status').getAttribute('data-startup')) ?? '{}') as Record<string, number>;
  return { times, startup };
}

test('records the time from opening the page to Play, and from Play to the first finished step (tiny preset)', { timeout: 600_000 }, async () => {
  const first = await timeToFirstStep(() => page.goto(inject('baseUrl') + '?p=tiny'));
  console.log(`[start-time] ${JSON.stringify(first.times)}`);
  console.log(`[start-time-worker] ${JSON.stringify(await first.startup())}`);
  await expect.poll(async () => (await first.startup()).baselines_ms ?? null, { timeout: 300_000 }).not.toBeNull();
  console.log(`[start-time-worker] after the baselines: ${JSON.stringify(await first.startup())}`);
  // A second visit in the same browser (a class that reloads the page): the browser may reuse compiled pipelines from its GPU cache.
  const again = await timeToFirstStep(() => page.reload());
  console.log(`[start-time] reloaded: ${JSON.stringify(again.times)}`);
  console.log(`[start-time-worker] reloaded: ${JSON.stringify(await again.startup())}`);
});
