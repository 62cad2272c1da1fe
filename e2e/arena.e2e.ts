// The method arena in headless Chromium on its emulated GPU (SwiftShader): a link with the arena's
// setup (tiny preset, MIRA, SwAV and naive, 3 steps each) opens the arena tab as it was set up;
// the arena trains the three interleaved; the overlaid charts and the results table fill; the
// exported CSV has one row per method, the Markdown one table row per method, a chart exports as
// SVG; no console errors. Screenshot: arena.png (docs/screenshots/ with SCREENSHOTS_DIR).
//
// SwiftShader is slow (a trainer builds in ≈ 40 s, a step takes 5–10 s on 2 busy cores), so the URL
// shrinks the kNN sets and evaluates every 2 steps: evaluations at steps 2 and 3 (the end).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { elapsedLog, launchChromium, newWatchedPage, screenshotPath } from './chromium.ts';

const METHODS = ['mira', 'swav', 'naive'];
const STEPS = 3;
const QUERY = `?p=tiny&kb=40&kq=40&ke=2&s=3&v=arena&ar=${METHODS.join(',')}&an=${STEPS}`;
const CHARTS = ['arena-knn-top-1', 'arena-linear-top-1', 'arena-loss', 'arena-effective-rank', 'arena-used-clusters'];

let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

const log = elapsedLog();

async function points(testid: string): Promise<number> {
  return Number((await page.getByTestId(testid).getAttribute('data-points')) ?? 0);
}

/** Lines drawn in a chart, one path per method with data. */
async function curves(testid: string): Promise<number> {
  return page.getByTestId(testid).evaluate((el) => [...el.querySelectorAll('path.recharts-curve')].filter((p) => (p.getAttribute('d') ?? '').length > 0).length);
}

beforeAll(async () => {
  browser = await launchChromium();
  page = await newWatchedPage(browser, consoleErrors, { width: 1440, height: 1500 }, { acceptDownloads: true });
});

afterAll(async () => {
  await browser?.close();
});

test('a link with the arena setup opens the arena tab with its methods, seed and steps', { timeout: 120_000 }, async () => {
  await page.goto(inject('baseUrl') + QUERY);
  await page.locator('[data-testid="statusbar"][data-gpu-status="ready"]').waitFor({ timeout: 30_000 });
  await page.getByTestId('arena').waitFor({ timeout: 30_000 });
  expect(await page.getByRole('tab', { name: 'Method arena' }).getAttribute('aria-selected')).toBe('true');
  for (const m of ['mira', 'swav', 'naive', 'sela', 'mveb', 'mio']) expect(await page.getByTestId(`arena-pick-${m}`).isChecked(), m).toBe(METHODS.includes(m));
  expect(await page.getByLabel('steps each', { exact: true }).inputValue()).toBe(String(STEPS));
  expect(await page.getByLabel('seed', { exact: true }).inputValue()).toBe('3');
  expect(await page.getByTestId('arena-memory').getAttribute('data-fits')).toBe('true');
  await page.getByTestId('dataset-info').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid="arena-start"]:not([disabled])').waitFor({ timeout: 60_000 });
});

test('the arena trains three methods interleaved; the overlaid charts and the table fill', { timeout: 840_000 }, async () => {
  await page.getByTestId('arena-start').click();
  await page.locator('[data-testid="arena-status"][data-running="true"]').waitFor({ timeout: 10_000 });
  const deadline = performance.now() + 800_000;
  let seen = '';
  while ((await page.getByTestId('arena-status').getAttribute('data-running')) === 'true') {
    if (performance.now() > deadline) throw new Error(`the arena is still running after 800 s: ${seen}`);
    const now = (await page.getByTestId('arena-status').textContent()) ?? '';
    if (now !== seen) log((seen = now));
    await page.waitForTimeout(1000);
  }
  expect(await page.getByTestId('arena-error').count(), (await page.getByTestId('arena-status').textContent()) ?? '').toBe(0);
  expect(await page.getByTestId('arena-status').getAttribute('data-step')).toBe(String(STEPS));
  expect(await page.getByTestId('arena-table').getAttribute('data-rows')).toBe('3');
  for (const m of METHODS) {
    const cells = await page.getByTestId(`arena-row-${m}`).locator('td').allTextContents();
    expect(cells[1], `${m} step`).toBe(String(STEPS));
    expect(cells[2], `${m} kNN`).toMatch(/^[\d.]+ %$/);
    expect(cells[3], `${m} linear`).toMatch(/^[\d.]+ %$/);
    expect(cells[4], `${m} effective rank`).toMatch(/^[\d.]+$/);
    expect(cells[8], `${m} images/s`).toMatch(/^[\d.]+$/);
  }
  // kNN and linear: the init point and the evaluations at steps 2 and 3; the per-step charts: 3 steps.
  for (const c of CHARTS) {
    expect(await points(`chart-${c}`), c).toBe(c.includes('top-1') ? 3 : STEPS);
    expect(await curves(`chart-${c}`), `${c}: one line per method`).toBe(3);
  }
  // Each method's embedding map, side by side, drawn at the end of the run.
  await page.getByTestId('arena-maps').waitFor({ timeout: 120_000 });
  for (const m of METHODS) expect(await page.getByTestId(`arena-map-${m}`).count(), `${m} map`).toBe(1);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('arena.png'), fullPage: true });
  log(`arena done: ${await page.getByTestId('arena-table').textContent()}`);
});

test('the table exports as CSV with one row per method and as Markdown; a chart exports as SVG; the URL keeps the setup', { timeout: 60_000 }, async () => {
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Table CSV' }).click()]);
  expect(csv.suggestedFilename()).toBe(`mira-playground-arena-mira-swav-naive-seed3-step${STEPS}.csv`);
  const lines = readFileSync(await csv.path(), 'utf8').trimEnd().split('\n');
  expect(lines[0]).toMatch(/^method,step,knn_top1,linear_top1,/);
  expect(lines.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(METHODS.map((m) => `${m},${STEPS}`));
  const [md] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Table Markdown' }).click()]);
  const table = readFileSync(await md.path(), 'utf8').split('\n').filter((l) => l.startsWith('| '));
  expect(table).toHaveLength(2 + METHODS.length);
  const [svg] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Arena kNN top-1 as SVG' }).click()]);
  const markup = readFileSync(await svg.path(), 'utf8');
  expect(markup.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(markup).not.toContain('var(--');
  const [png] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Arena loss as PNG' }).click()]);
  expect(readFileSync(await png.path()).subarray(1, 4).toString('latin1')).toBe('PNG');
  const url = new URL(page.url());
  expect([url.searchParams.get('v'), url.searchParams.get('ar'), url.searchParams.get('an'), url.searchParams.get('s')]).toEqual(['arena', METHODS.join(','), String(STEPS), '3']);
  log(`exported ${csv.suggestedFilename()}, ${md.suggestedFilename()}, ${svg.suggestedFilename()} (${markup.length} bytes), ${png.suggestedFilename()}`);
});

test('no console errors in the page or its worker', () => {
  expect(consoleErrors).toEqual([]);
});
