// The shell in headless Chromium: it loads and names its adapter (and disables the choices its features do not allow),
// the GEMM self-test runs in the page's engine worker and passes, and nothing is logged as an error meanwhile.
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newWatchedPage, screenshotPath } from './chromium.ts';

let browser: Browser;
let page: Page;
let adapter = '(not seen)';
const consoleErrors: string[] = [];
// The page builds a trainer as soon as its dataset arrives, which keeps an emulated GPU busy for
// a while; the dataset is held back until the self-test is done, so the two do not compete.
let releaseDataset: () => void = () => {};
const selfTestDone = new Promise<void>((resolve) => (releaseDataset = resolve));

beforeAll(async () => {
  browser = await launchChromium();
  page = await newWatchedPage(browser, consoleErrors, { width: 900, height: 620 });
  await page.context().route(/\/datasets\//, async (route) => {
    await selfTestDone;
    await route.continue().catch(() => undefined);
  });
});

afterAll(async () => {
  releaseDataset();
  await browser?.close();
});

test('the shell loads and names its WebGPU adapter', async () => {
  await page.goto(inject('baseUrl'));
  await expect(page.title()).resolves.toBe('MIRA Playground');
  await page.locator('[data-testid="statusbar"][data-gpu-status="ready"]').waitFor({ timeout: 30_000 });
  const name = (await page.getByTestId('adapter-name').textContent()) ?? '';
  expect(name).toMatch(/\w/);
  adapter = `${name} (${await page.getByTestId('adapter-kind').textContent()})`;
  console.log(`[gpu] adapter: ${adapter}`);
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('MIRA Playground');
  // A choice that needs an adapter feature is disabled where the adapter lacks it: f16 storage needs shader-f16
  // (SwiftShader here offers none; the status bar lists what the adapter has).
  const hasF16 = ((await page.getByTestId('statusbar').textContent()) ?? '').includes('shader-f16');
  const f16 = page.getByLabel('Precision', { exact: true }).locator('option[value="f16"]');
  expect(await f16.isDisabled(), `f16 disabled without shader-f16 (adapter has it: ${hasF16})`).toBe(!hasF16);
  expect(await page.getByLabel('Precision', { exact: true }).locator('option[value="auto"]').isDisabled()).toBe(false);
});

test('"Run GEMM check" runs in the page\'s worker and passes', async () => {
  const button = page.getByTestId('gemm-run');
  await expect(button.isEnabled()).resolves.toBe(true);
  await button.click();
  const verdict = page.getByTestId('gemm-verdict');
  await verdict.waitFor({ timeout: 45_000 });
  const maxError = Number(await page.getByTestId('gemm-max-error').textContent());
  console.log(`[gpu] adapter: ${adapter}\n[e2e] GEMM 64×64×64 max error ${maxError.toExponential(2)}, verdict ${await verdict.textContent()}`);
  expect(await verdict.textContent()).toBe('PASS');
  expect(maxError).toBeLessThan(1e-5);
  expect(await page.locator('table.results caption').textContent()).toContain('engine worker');
  expect(page.workers().map((w) => w.url()).some((u) => /engine\.worker/.test(u))).toBe(true);
  await page.screenshot({ path: screenshotPath('shell.png') });
  releaseDataset();
});

test('no console errors while loading and running the check', () => {
  console.log(`[gpu] adapter: ${adapter}\n[e2e] ${consoleErrors.length} console errors`);
  expect(consoleErrors).toEqual([]);
});
