// Without WebGPU the page explains what to do — never a blank page: once with navigator.gpu
// removed from the page (and, were the init script to reach them, workers), once with it
// removed only inside the engine worker (its script is served with a prelude that deletes it).
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshotPath } from './chromium.ts';

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

async function expectExplanation(page: Page, label: string): Promise<void> {
  const panel = page.getByTestId('webgpu-unavailable');
  await panel.waitFor({ timeout: 30_000 });
  const text = (await panel.textContent()) ?? '';
  console.log(`[gpu] adapter: none\n[e2e] ${label}; the status bar says "${await page.getByTestId('adapter-name').textContent()}"`);
  expect(text).toContain('navigator.gpu is missing');
  expect(text).toMatch(/Chrome or Edge 113/);
  expect(text).toContain('chrome://gpu');
  expect(text).toContain('--enable-unsafe-webgpu');
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('MIRA Playground');
}

test('with navigator.gpu removed from the page, the page explains what to do', async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 560 }, colorScheme: 'dark' });
  await page.addInitScript(() => {
    delete (Navigator.prototype as { gpu?: unknown }).gpu;
    const W = (globalThis as { WorkerNavigator?: { prototype: { gpu?: unknown } } }).WorkerNavigator;
    if (W) delete W.prototype.gpu;
  });
  await page.goto(inject('baseUrl'));
  await expectExplanation(page, 'navigator.gpu removed from the page');
  await page.screenshot({ path: screenshotPath('no-webgpu.png') });
  await page.close();
});

test('with navigator.gpu removed only in the worker, the page explains what to do', async () => {
  const page = await browser.newPage();
  await page.route(/engine\.worker.*\.js$/, async (route) => {
    const response = await route.fetch();
    const body = 'delete WorkerNavigator.prototype.gpu;\n' + (await response.text());
    await route.fulfill({ response, body });
  });
  await page.goto(inject('baseUrl'));
  await expectExplanation(page, 'navigator.gpu removed in the worker');
  await page.close();
});
