// Checkpoints into the page, in headless Chromium on its emulated GPU (SwiftShader): a training
// run's model.safetensors and optimizer.safetensors loaded through the "Load checkpoint…" file
// input become the page's run (its step, its configuration) and train on; a checkpoint with a NaN
// weight and a gzip file are refused with a message naming the file while the run is kept; and a
// checkpoint with NaN weights written into the page's IndexedDB (the record format of
// src/worker/checkpoints.ts) is refused with a message after a reload instead of being offered.
//
// The files are made in Node with the checkpoint writer the CLI uses (encodeCheckpoint, and the
// optimizer state as `npm run cli -- train` writes it) for a run of SwAV at width 1/16, batch 8,
// K 16 on the bundled sample, stopped at step 3 of 6: `train` itself takes minutes on a busy
// emulated GPU, which the test does not need to show the page reading what it writes.
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { elapsedLog, launchChromium, newWatchedPage, screenshotPath } from './chromium.ts';
import { loadDataset } from '../src/data/node-fs.ts';
import { encodeSafetensors } from '../src/io/safetensors.ts';
import { encodeCheckpoint, initialState } from '../src/nn/checkpoint.ts';
import { ParamLayout } from '../src/nn/param-store.ts';
import { defaultTrainConfig, type TrainConfig } from '../src/train/config.ts';
import { modelConfigFor } from '../src/train/trainer.ts';

const QUERY = '?p=tiny&kb=40&kq=40&ke=3&c=2';

let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
let model: Buffer;
let optimizer: Buffer;
let nanModel: Buffer;
let train: TrainConfig;

const log = elapsedLog();

async function status(): Promise<{ phase: string; step: number; text: string }> {
  const el = page.getByTestId('train-status');
  return { phase: (await el.getAttribute('data-phase')) ?? '', step: Number(await el.getAttribute('data-step')), text: (await el.textContent()) ?? '' };
}

beforeAll(async () => {
  const data = await loadDataset('bundled');
  train = defaultTrainConfig({ method: 'swav', width: 1 / 16, batch: 8, steps: 6, prototypes: 16, projHidden: 64, projOut: 32, seed: 3, knnBank: 40, knnQueries: 40, linearProbe: 'off', dataset: 'bundled' });
  const state = initialState(modelConfigFor(train, data.train), train.seed);
  state.step = 3;
  state.method = train.method;
  state.extra = { train_config: train, knn_top1_init: 15 };
  model = Buffer.from(encodeCheckpoint(state));
  const size = new ParamLayout(state.config).size;
  const momentum = Float32Array.from({ length: size }, (_, i) => 1e-4 * Math.sin(i));
  optimizer = Buffer.from(encodeSafetensors({ momentum: { shape: [size], data: momentum } }, { step: '3' }));
  const w = state.student.get('encoder.conv1.weight')!;
  w[7] = NaN;
  nanModel = Buffer.from(encodeCheckpoint(state));
  log(`files: model ${model.length} bytes, optimizer ${optimizer.length} bytes (${size} momentum values)`);

  browser = await launchChromium();
  page = await newWatchedPage(browser, consoleErrors, { width: 1440, height: 1180 });
});

afterAll(async () => {
  await browser?.close();
});

test('a run\'s model.safetensors and optimizer.safetensors loaded through the file input continue at its step with its configuration, and one more step trains', { timeout: 600_000 }, async () => {
  await page.goto(inject('baseUrl') + QUERY);
  await page.locator('[data-testid="statusbar"][data-gpu-status="ready"]').waitFor({ timeout: 60_000 });
  await page.getByTestId('dataset-info').waitFor({ timeout: 120_000 });
  log('dataset loaded; loading the checkpoint');
  await page.getByTestId('checkpoint-file').setInputFiles([
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: model },
    { name: 'optimizer.safetensors', mimeType: 'application/octet-stream', buffer: optimizer },
  ]);
  await page.locator('[data-testid="train-status"][data-phase="paused"][data-step="3"]').waitFor({ timeout: 480_000 });
  const s = await status();
  log(`loaded: ${s.text}`);
  expect(s.text).toContain('K 16');
  expect(s.text).toContain('projector 64→32');
  const notice = page.getByRole('status').filter({ hasText: 'Loaded model.safetensors' });
  expect(await notice.textContent()).toContain("The optimizer momentum is optimizer.safetensors's.");
  expect(await page.getByLabel('Method', { exact: true }).inputValue()).toBe('swav');
  expect(page.url()).toMatch(/[?&]s=3(&|$)/);
  await page.getByTestId('step-batch').click();
  await page.locator('[data-testid="train-status"][data-step="4"]').waitFor({ timeout: 300_000 });
  await page.locator('[data-testid="train-status"][data-phase="paused"]').waitFor({ timeout: 60_000 });
  log(`one more step: ${(await status()).text}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('checkpoint-import.png') });
});

test('a checkpoint with a NaN weight and a gzip file are refused with a message naming the file; the run is kept', { timeout: 120_000 }, async () => {
  const before = await status();
  await page.getByTestId('checkpoint-file').setInputFiles([{ name: 'nan-model.safetensors', mimeType: 'application/octet-stream', buffer: nanModel }]);
  const err = page.getByTestId('checkpoint-error');
  await err.waitFor({ timeout: 60_000 });
  const text = (await err.textContent()) ?? '';
  log(`NaN checkpoint: ${text}`);
  expect(text).toContain('Could not load nan-model.safetensors');
  expect(text).toContain('non-finite weights');
  expect(text).toContain('encoder.conv1.weight');
  await err.getByRole('button', { name: 'Dismiss' }).click();

  // 16 MiB of zeros in 16 KB: refused by its magic number, never inflated.
  await page.getByTestId('checkpoint-file').setInputFiles([{ name: 'model.safetensors.gz', mimeType: 'application/gzip', buffer: gzipSync(Buffer.alloc(16 << 20)) }]);
  await err.waitFor({ timeout: 60_000 });
  expect(await err.textContent()).toContain('model.safetensors.gz: a gzip-compressed file, not safetensors');
  const after = await status();
  expect(after.step).toBe(before.step);
  expect(after.text).toBe(before.text);
  await err.getByRole('button', { name: 'Dismiss' }).click();
});

test('a checkpoint with NaN weights in IndexedDB is refused with a message after a reload, not offered or loaded', { timeout: 600_000 }, async () => {
  const bytes = Array.from(nanModel);
  await page.evaluate(
    async ({ bytes, config }) => {
      // The record of src/worker/checkpoints.ts (StoredCheckpoint) in its database, store and slot.
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('mira-playground', 1);
        req.onupgradeneeded = () => req.result.createObjectStore('checkpoints');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction('checkpoints', 'readwrite');
        tx.objectStore('checkpoints').put({ step: 3, savedAt: Date.now(), config, dataset: 'bundled', model: Uint8Array.from(bytes), records: [], knn: [], knnInit: null }, 'latest');
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
      db.close();
    },
    { bytes, config: train },
  );
  await page.reload();
  const err = page.locator('[data-testid="checkpoint-error"][data-origin="browser"]');
  await err.waitFor({ timeout: 120_000 });
  const text = (await err.textContent()) ?? '';
  log(`IndexedDB checkpoint: ${text}`);
  expect(text).toContain('The checkpoint saved in this browser was not loaded');
  expect(text).toContain('non-finite weights');
  expect(await page.getByTestId('resume-offer').count()).toBe(0);
  // A fresh run from the page's configuration is built instead, at step 0.
  await page.locator('[data-testid="train-status"][data-phase="paused"][data-step="0"]').waitFor({ timeout: 480_000 });
  expect(await page.getByTestId('resume-offer').count()).toBe(0);
});

test('no console errors in the page or its worker', () => {
  log(`${consoleErrors.length} console errors`);
  expect(consoleErrors).toEqual([]);
});
