// The playground in headless Chromium on its emulated GPU (SwiftShader), one page through one
// session: it loads the bundled sample with the tiny preset, trains a few steps and draws every
// chart, steps the fixed-point explorer (and checks it against the float64 reference), rejects
// a corrupt dataset file without losing the run, runs the collapse lab, resumes from the
// IndexedDB checkpoint after a reload, and offers to resume after a lost device — with no
// console errors. Screenshots go to .cache/screenshots/ (docs/screenshots/ with `npm run screenshots`).
//
// SwiftShader is slow (building the trainer ≈ 40 s, a step ≈ 5–10 s on 2 busy cores), so the
// URL shrinks the kNN sets, evaluates kNN every 3 steps, writes a checkpoint every 2, and each
// test does as little training as it can.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newWatchedPage, screenshotPath } from './chromium.ts';

const QUERY = '?p=tiny&kb=40&kq=40&ke=3&c=2';
const DASHBOARD_CHARTS = ['loss', 'schedules', 'knn-accuracy', 'entropy', 'marginal-entropy', 'mutual-information', 'kl-terms', 'clusters', 'cluster-marginal', 'representation-health'];

let browser: Browser;
let page: Page;
let adapter = '(not seen)';
const consoleErrors: string[] = [];
const t0 = performance.now();

function log(msg: string): void {
  console.log(`[gpu] adapter: ${adapter}\n[e2e] ${((performance.now() - t0) / 1000).toFixed(0)} s: ${msg}`);
}

async function stepNow(): Promise<number> {
  return Number(await page.getByTestId('train-status').getAttribute('data-step'));
}

async function waitPhase(phase: string, timeout: number): Promise<void> {
  await page.locator(`[data-testid="train-status"][data-phase="${phase}"]`).waitFor({ timeout });
}

async function points(testid: string): Promise<number> {
  return Number((await page.getByTestId(testid).getAttribute('data-points')) ?? 0);
}

/** The chart draws something: a line with a path or a bar. */
async function drawn(testid: string): Promise<boolean> {
  return page
    .getByTestId(testid)
    .evaluate((el) => [...el.querySelectorAll('path.recharts-curve, path.recharts-rectangle, .recharts-dot')].some((p) => (p.getAttribute('d') ?? p.getAttribute('cx') ?? '').length > 0));
}

beforeAll(async () => {
  browser = await launchChromium();
  page = await newWatchedPage(browser, consoleErrors, { width: 1440, height: 1180 }, { acceptDownloads: true });
});

afterAll(async () => {
  await browser?.close();
});

test('loads the bundled sample, picks the tiny preset on an emulated GPU and builds the trainer', { timeout: 200_000 }, async () => {
  await page.goto(inject('baseUrl') + QUERY);
  await page.locator('[data-testid="statusbar"][data-gpu-status="ready"]').waitFor({ timeout: 30_000 });
  adapter = `${await page.getByTestId('adapter-name').textContent()} (${await page.getByTestId('adapter-kind').textContent()})`;
  const soft = (await page.getByTestId('adapter-kind').textContent())?.includes('emulated');
  if (soft) expect(await page.getByTestId('software-notice').textContent()).toContain('emulated');
  await page.getByTestId('dataset-info').waitFor({ timeout: 60_000 });
  expect(await page.getByTestId('dataset-info').textContent()).toContain('Fashion-MNIST sample');
  await waitPhase('paused', 180_000);
  log(`trainer built: ${await page.getByTestId('train-status').textContent()}`);
  expect(await page.getByTestId('train-status').textContent()).toContain('width 1/16 · batch 16 · K 32 · projector 64→32');
  // Play is enabled as soon as the step's pipelines are built: the random-init kNN baseline comes after the first step (issue 15).
  expect(await points('chart-knn-accuracy')).toBe(0);
  for (const name of ['Play', 'Pause', 'Step batch', 'Reset']) expect(await page.getByRole('toolbar', { name: 'Transport' }).getByRole('button', { name, exact: true }).count()).toBe(1);
});

test('plays the tiny preset for a few steps, and every chart has data', { timeout: 200_000 }, async () => {
  await page.getByRole('button', { name: 'Play', exact: true }).click();
  await waitPhase('playing', 10_000);
  const deadline = performance.now() + 170_000;
  while ((await stepNow()) < 3 || (await points('chart-loss')) < 3 || (await points('chart-knn-accuracy')) < 2) {
    if (performance.now() > deadline) throw new Error(`still at step ${await stepNow()} after 170 s`);
    await page.waitForTimeout(500);
  }
  // The random-init baseline (measured on a copy of the initial weights after the first step) and the raw pixels are charted.
  await expect.poll(async () => (await page.getByTestId('chart-knn-accuracy').textContent()) ?? '', { timeout: 60_000 }).toMatch(/at random init \(\d+(\.\d+)? %\), raw pixels/);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('dashboard.png') });
  log(`dashboard screenshot at step ${await stepNow()}, playing`);
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await waitPhase('paused', 60_000);
  for (const c of DASHBOARD_CHARTS) {
    const n = await points(`chart-${c}`);
    expect(n, `chart ${c} has no data`).toBeGreaterThan(0);
    expect(await drawn(`chart-${c}`), `chart ${c} draws nothing`).toBe(true);
  }
  log(`paused at step ${await stepNow()}; every dashboard chart has data`);
});

test('exports the metrics (CSV) and the weights (safetensors)', { timeout: 60_000 }, async () => {
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Metrics CSV' }).click()]);
  expect(csv.suggestedFilename()).toMatch(/^mira-playground-mira-step\d+-metrics\.csv$/);
  const text = readFileSync(await csv.path(), 'utf8');
  expect(text.split('\n')[0]).toMatch(/^step,epoch,loss,lr,beta,/);
  expect(text.trim().split('\n').length).toBeGreaterThanOrEqual(4);
  const [weights] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Weights .safetensors' }).click()]);
  expect(weights.suggestedFilename()).toMatch(/\.safetensors$/);
  const bytes = readFileSync(await weights.path());
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>;
  expect(Object.keys(header)).toContain('encoder.conv1.weight');
  expect(Object.keys(header)).toContain('ema.encoder.conv1.weight');
  log(`exported ${csv.suggestedFilename()} and ${weights.suggestedFilename()} (${bytes.length} bytes)`);
});

test('the cluster gallery shows the largest clusters with purity and NMI against the hidden labels', { timeout: 60_000 }, async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByRole('tab', { name: 'Cluster gallery' }).click();
  const scores = page.getByTestId('gallery-scores');
  await scores.waitFor({ timeout: 30_000 });
  const text = (await scores.textContent()) ?? '';
  const purity = Number(/purity\s*([\d.]+)/.exec(text)?.[1]);
  const nmi = Number(/NMI\s*([\d.]+)/.exec(text)?.[1]);
  expect(purity).toBeGreaterThanOrEqual(10); // at least the largest class share of 10 balanced classes
  expect(purity).toBeLessThanOrEqual(100);
  expect(nmi).toBeGreaterThanOrEqual(0);
  expect(nmi).toBeLessThanOrEqual(1);
  const cards = page.locator('.cluster-card canvas');
  expect(await cards.count()).toBeGreaterThan(0);
  const inked = await cards.first().evaluate((c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i]! > 0) lit++;
    return lit;
  });
  expect(inked, 'the first cluster draws no pixels').toBeGreaterThan(0);
  await page.screenshot({ path: screenshotPath('gallery.png') });
  log(`gallery: ${await cards.count()} clusters drawn, purity ${purity} %, NMI ${nmi}`);
});

test('"Step iteration" changes the residual chart, and the GPU agrees with the float64 reference', { timeout: 90_000 }, async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByRole('tab', { name: 'Fixed-point explorer' }).click();
  await page.getByTestId('explorer-synthetic').click();
  const state = page.getByTestId('explorer-state');
  await state.waitFor({ timeout: 30_000 });
  expect(await points('chart-residual')).toBe(0);
  let before = '';
  for (let i = 1; i <= 3; i++) {
    await page.getByRole('button', { name: 'Step iteration' }).click();
    await page.locator(`[data-testid="explorer-state"][data-iters="${i}"]`).waitFor({ timeout: 20_000 });
    expect(await points('chart-residual')).toBe(i);
    const svg = await page.getByTestId('chart-residual').evaluate((el) => el.querySelector('svg')?.innerHTML ?? '');
    expect(svg.length).toBeGreaterThan(0);
    expect(svg).not.toBe(before);
    before = svg;
  }
  // The keyboard's "i" is the same button.
  await page.locator('body').press('i');
  await page.locator('[data-testid="explorer-state"][data-iters="4"]').waitFor({ timeout: 20_000 });
  await page.getByTestId('explorer-verify').check();
  const diff = page.getByTestId('explorer-cpu-diff');
  await diff.waitFor({ timeout: 20_000 });
  for (let i = 5; i <= 8; i++) {
    await page.getByRole('button', { name: 'Step iteration' }).click();
    await page.locator(`[data-testid="explorer-state"][data-iters="${i}"]`).waitFor({ timeout: 20_000 });
  }
  await page.locator('[data-testid="explorer-cpu-diff"]').filter({ hasText: 'after 8 iterations' }).waitFor({ timeout: 20_000 });
  const mira = Number(await diff.getAttribute('data-mira'));
  const sinkhorn = Number(await diff.getAttribute('data-sinkhorn'));
  log(`explorer after 8 iterations: max |GPU − CPU| MIRA ${mira.toExponential(2)}, Sinkhorn-Knopp ${sinkhorn.toExponential(2)}`);
  expect(mira).toBeLessThan(1e-5);
  expect(sinkhorn).toBeLessThan(1e-5);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('explorer.png') });
});

test('a corrupt dataset file shows which file and what was expected, and loses nothing', { timeout: 60_000 }, async () => {
  const stepBefore = await stepNow();
  // A gzip header, then garbage: a download cut short and damaged.
  const junk = Buffer.alloc(4096);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) & 255;
  junk.set([0x1f, 0x8b, 0x08, 0x00], 0);
  await page.getByTestId('dataset-file').setInputFiles({ name: 'cifar-10-binary.tar.gz', mimeType: 'application/gzip', buffer: junk });
  const err = page.getByTestId('dataset-error');
  await err.waitFor({ timeout: 30_000 });
  const text = (await err.textContent()) ?? '';
  log(`corrupt file: ${text}`);
  expect(text).toContain('cifar-10-binary.tar.gz');
  expect(text).toMatch(/gzip/);
  expect(text).not.toMatch(/fetch|DatasetError/);
  expect(await page.getByTestId('dataset-info').textContent()).toContain('Fashion-MNIST sample');
  expect(await stepNow()).toBe(stepBefore);
  await err.getByRole('button', { name: 'Dismiss' }).click();
});

test('a 1 MB gzip bomb is refused while it inflates, with a clear message, and the tab stays responsive', { timeout: 120_000 }, async () => {
  const stepBefore = await stepNow();
  // 1 GiB of zeros gzipped: about 1 MB on disk. CIFAR-10's tarball cannot hold more than 6 × 30 730 000
  // bytes, so the page's bounded gunzip (src/data/gzip.ts) must stop there, not inflate a gigabyte.
  const { createGzip } = await import('node:zlib');
  const bomb = await new Promise<Buffer>((resolve, reject) => {
    const gz = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gz.on('data', (d: Buffer) => parts.push(d));
    gz.on('end', () => resolve(Buffer.concat(parts)));
    gz.on('error', reject);
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) gz.write(zeros);
    gz.end();
  });
  log(`gzip bomb: ${bomb.length} bytes inflating to 1 GiB`);
  expect(bomb.length).toBeLessThan(1.2e6);
  await page.getByTestId('dataset-file').setInputFiles({ name: 'cifar-10-binary.tar.gz', mimeType: 'application/gzip', buffer: bomb });
  const err = page.getByTestId('dataset-error');
  await err.waitFor({ timeout: 90_000 });
  const text = (await err.textContent()) ?? '';
  log(`gzip bomb: ${text}`);
  expect(text).toContain('cifar-10-binary.tar.gz');
  // The page answers at once: a tab switch and back.
  const t0 = Date.now();
  await page.getByRole('tab', { name: 'Collapse lab' }).click();
  await page.getByRole('tab', { name: 'Dashboard' }).click();
  log(`gzip bomb: the tabs answered in ${Date.now() - t0} ms`);
  expect(await page.getByTestId('dataset-info').textContent()).toContain('Fashion-MNIST sample');
  expect(await stepNow()).toBe(stepBefore);
  await err.getByRole('button', { name: 'Dismiss' }).click();
});

test('the collapse lab trains every registered method from one seed side by side', { timeout: 420_000 }, async () => {
  await page.getByRole('tab', { name: 'Collapse lab' }).click();
  const steps = page.getByLabel('steps each');
  await steps.fill('2');
  await page.getByTestId('lab-start').click();
  await page.locator('[data-testid="lab-status"][data-running="false"][data-step="2"]').waitFor({ timeout: 400_000 });
  for (const m of ['naive', 'swav', 'mira', 'mveb', 'mio']) expect(await page.getByTestId(`lab-${m}`).textContent()).toContain('effective rank');
  // The embedding objectives have no clusters: a dash, never NaN.
  for (const m of ['mveb', 'mio']) expect(await page.getByTestId(`lab-${m}-used`).textContent()).toBe('—');
  expect(await page.getByTestId('lab-mira-used').textContent()).toMatch(/^\d+ \/ \d+$/);
  expect(await points('chart-used-clusters')).toBe(2);
  expect(await points('chart-marginal-entropy-of-the-targets')).toBe(2);
  expect(await points('chart-mutual-information-of-the-targets')).toBe(2);
  expect(await points('chart-effective-rank-of-the-embeddings')).toBe(2);
  expect(await drawn('chart-effective-rank-of-the-embeddings')).toBe(true);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('collapse-lab.png') });
  log('collapse lab: 2 steps each');
});

test('picking MVEB shows its explanation and rows; a MIO run fills the representation-health and pair-probability charts', { timeout: 300_000 }, async () => {
  await page.getByRole('tab', { name: 'Dashboard' }).click();
  const picker = page.getByLabel('Method', { exact: true });
  await picker.selectOption('mveb');
  expect(await page.getByTestId('method-explanation').textContent()).toContain('entropy');
  expect(await page.locator('[data-param="entropyWeight"]').count()).toBe(1);
  await picker.selectOption('mio');
  expect(await page.locator('[data-param="entropyWeight"]').count()).toBe(0);
  expect(await page.locator('[data-param="mioNegatives"]').count()).toBe(1);
  await page.getByRole('button', { name: 'Reset to apply' }).click();
  await page.locator('[data-testid="train-status"][data-phase="paused"][data-step="0"]').waitFor({ timeout: 180_000 });
  await page.getByRole('button', { name: 'Play', exact: true }).click();
  const deadline = performance.now() + 100_000;
  while ((await stepNow()) < 3 || (await points('chart-representation-health')) < 3) {
    if (performance.now() > deadline) throw new Error(`MIO still at step ${await stepNow()} after 100 s`);
    await page.waitForTimeout(500);
  }
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await waitPhase('paused', 60_000);
  for (const c of ['loss', 'representation-health', 'pair-probabilities']) expect(await drawn(`chart-${c}`), `chart ${c} draws nothing`).toBe(true);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('dashboard-mio.png'), fullPage: true });
  log(`MIO run paused at step ${await stepNow()}`);
});

test('a reload offers to resume from the checkpoint in IndexedDB, and resumes', { timeout: 200_000 }, async () => {
  await page.reload();
  const offer = page.getByTestId('resume-offer');
  await offer.waitFor({ timeout: 60_000 });
  const text = (await offer.textContent()) ?? '';
  const saved = Number(/step (\d+)/.exec(text)?.[1]);
  log(`resume offer: ${text}`);
  expect(saved).toBeGreaterThanOrEqual(2);
  await page.getByTestId('dataset-info').waitFor({ timeout: 60_000 });
  await page.getByTestId('resume').click();
  await page.locator(`[data-testid="train-status"][data-phase="paused"][data-step="${saved}"]`).waitFor({ timeout: 180_000 });
  expect(await points('chart-loss')).toBeGreaterThanOrEqual(2);
  expect(await points('chart-knn-accuracy')).toBeGreaterThanOrEqual(1);
  log(`resumed at step ${saved} with the charts' history`);
});

test('a lost device is said in the page, with an offer to resume from the checkpoint', { timeout: 60_000 }, async () => {
  await page.getByTestId('simulate-device-loss').click();
  const panel = page.getByTestId('device-lost');
  await panel.waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('recover').textContent()).toMatch(/Resume from step \d+/);
});

test('no console errors in the page or its worker', () => {
  log(`${consoleErrors.length} console errors`);
  expect(consoleErrors).toEqual([]);
});
