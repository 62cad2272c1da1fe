// The embedding map in headless Chromium on its emulated GPU (SwiftShader): the tiny preset on the
// bundled sample, two steps, then the "Embedding map" tab maps the kNN test images by PCA on the GPU;
// the canvas has dots in several colours (its pixels are read back), the legend lists the classes
// with counts that add up to the images mapped, hovering a dot shows its image, colouring by the
// method's clusters swaps the legend; the method's objective is typeset by KaTeX in the controls.
// No console errors. The screenshot goes to .cache/screenshots/ (docs/screenshots/ with `npm run screenshots`).
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { elapsedLog, launchChromium, newWatchedPage, screenshotPath } from './chromium.ts';

const QUERIES = 120;
const QUERY = `?p=tiny&kb=60&kq=${QUERIES}`;

let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

const log = elapsedLog();

async function stepNow(): Promise<number> {
  return Number(await page.getByTestId('train-status').getAttribute('data-step'));
}

beforeAll(async () => {
  browser = await launchChromium();
  page = await newWatchedPage(browser, consoleErrors, { width: 1440, height: 1000 });
});

afterAll(async () => {
  await browser?.close();
});

test('the method objective is typeset by KaTeX beside its explanation', { timeout: 240_000 }, async () => {
  await page.goto(inject('baseUrl') + QUERY);
  await page.locator('[data-testid="statusbar"][data-gpu-status="ready"]').waitFor({ timeout: 30_000 });
  const formula = page.getByTestId('method-formula');
  await formula.waitFor({ timeout: 30_000 });
  expect(await formula.locator('.katex').count()).toBeGreaterThan(0);
  expect(await formula.locator('.katex-error').count()).toBe(0);
  // MathML rides along for screen readers: the objective's KL term is in it.
  expect(await formula.locator('math').textContent()).toContain('KL');
  expect(await page.getByTestId('method-watch').textContent()).toMatch(/watch/i);
  await page.locator('[data-testid="train-status"][data-phase="paused"]').waitFor({ timeout: 200_000 });
  log('trainer built; the MIRA objective is typeset');
});

test('after two steps the PCA map draws every test image, with a legend and images on hover', { timeout: 300_000 }, async () => {
  for (let i = 0; i < 2; i++) {
    await page.getByRole('button', { name: 'Step batch', exact: true }).click();
    const deadline = performance.now() + 90_000;
    while ((await stepNow()) < i + 1) {
      if (performance.now() > deadline) throw new Error(`still at step ${await stepNow()} after 90 s`);
      await page.waitForTimeout(300);
    }
  }
  await page.locator('[data-testid="train-status"][data-phase="paused"]').waitFor({ timeout: 60_000 });
  await page.getByRole('tab', { name: 'Embedding map' }).click();
  await page.getByRole('radio', { name: 'PCA' }).check();
  await page.getByRole('button', { name: 'Compute map' }).click();
  const canvas = page.getByTestId('map-canvas');
  await canvas.waitFor({ timeout: 240_000 });
  expect(Number(await canvas.getAttribute('data-points'))).toBe(QUERIES);
  const caption = (await page.getByTestId('map-caption').textContent()) ?? '';
  expect(caption).toContain(`step 2: ${QUERIES} test images`);
  expect(caption).toMatch(/PCA \(axes explain [\d.]+ % and [\d.]+ % of the variance\)/);
  log(`map: ${caption}`);

  // The canvas's own pixels: dots drawn, in several class colours.
  const ink = await canvas.evaluate((c) => {
    const el = c as HTMLCanvasElement;
    const d = el.getContext('2d')!.getImageData(0, 0, el.width, el.height).data;
    let lit = 0;
    const colours = new Set<string>();
    let first: [number, number] | null = null;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3]! < 250) continue;
      lit++;
      colours.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      if (!first) first = [(i / 4) % el.width, Math.floor(i / 4 / el.width)];
    }
    return { lit, colours: colours.size, first, scale: el.width / el.getBoundingClientRect().width };
  });
  expect(ink.lit, 'the map draws no dots').toBeGreaterThan(QUERIES * 4);
  expect(ink.colours, 'the dots are not coloured by class').toBeGreaterThanOrEqual(3);

  // The legend: the classes present, their counts adding up to the images mapped.
  const items = page.getByTestId('map-legend').locator('li');
  const n = await items.count();
  expect(n).toBeGreaterThanOrEqual(3);
  let total = 0;
  for (let i = 0; i < n; i++) total += Number(/(\d+)\s*$/.exec(((await items.nth(i).textContent()) ?? '').trim())?.[1] ?? NaN);
  expect(total).toBe(QUERIES);

  // Hover the first dot found: its image appears.
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + ink.first![0] / ink.scale + 1, box.y + ink.first![1] / ink.scale + 2);
  const hover = page.getByTestId('map-hover');
  await hover.waitFor({ timeout: 5_000 });
  expect(await hover.locator('canvas').count()).toBe(1);
  expect(await hover.textContent()).toMatch(/test #\d+/);

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('embedding-map.png') });

  // MIRA has a prototype head: colour by its clusters.
  await page.getByRole('radio', { name: 'cluster' }).check();
  expect(await page.getByTestId('map-legend').textContent()).toContain('cluster');
  expect(caption).toMatch(/clusters vs classes: purity [\d.]+ %, NMI [\d.]+/);
  expect(consoleErrors).toEqual([]);
  log(`map drawn: ${ink.lit} pixels in ${ink.colours} colours, ${n} legend entries`);
});
