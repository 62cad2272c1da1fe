// Dataset readers: CIFAR-10 binary batch files and the tarball (made here in the exact format,
// 3 records per batch file), IDX (.gz and raw), the bundled sample, the real Fashion-MNIST when
// installed, and every bad-input path with its message. No GPU needed.
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from 'vitest';
import { parseCifarBatch, readCifarTarGz } from '../src/data/cifar.ts';
import { DatasetError, channelStats, checkDataset, classCounts, type DatasetSplits } from '../src/data/dataset.ts';
import { gunzip } from '../src/data/gzip.ts';
import { parseIdxImages, parseIdxLabels } from '../src/data/idx.ts';
import { readTar } from '../src/data/tar.ts';
import { fetchBundledSample, urlSource } from '../src/data/fetch.ts';
import { loadFromSource } from '../src/data/load.ts';
import { cifarBatch, cifarFiles, cifarTar, idxImages, idxLabels, makeTar } from './helpers/formats.ts';
import { SYSTEM_FASHION_MNIST_DIR, defaultDatasetsDir, loadDataset } from '../src/data/node-fs.ts';

const root = mkdtempSync(join(tmpdir(), 'mira-data-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
function tempDir(): string {
  const d = join(root, `d${dirCount++}`);
  mkdirSync(d);
  return d;
}

// ---------- generators in the exact on-disk formats ----------

function writeIdxDir(dir: string, opts: { gz?: boolean; train?: [number, number, number]; test?: [number, number, number]; trainLabels?: number; imagesMagic?: number } = {}) {
  const [trn, trh, trw] = opts.train ?? [12, 28, 28];
  const [ten, teh, tew] = opts.test ?? [5, 28, 28];
  const z = (b: Uint8Array) => (opts.gz === false ? b : gzipSync(b));
  const ext = opts.gz === false ? '' : '.gz';
  writeFileSync(join(dir, `train-images-idx3-ubyte${ext}`), z(idxImages(trn, trh, trw, opts.imagesMagic)));
  writeFileSync(join(dir, `train-labels-idx1-ubyte${ext}`), z(idxLabels(opts.trainLabels ?? trn)));
  writeFileSync(join(dir, `t10k-images-idx3-ubyte${ext}`), z(idxImages(ten, teh, tew)));
  writeFileSync(join(dir, `t10k-labels-idx1-ubyte${ext}`), z(idxLabels(ten)));
}

async function rejectsWith(p: Promise<unknown>, pattern: RegExp): Promise<DatasetError> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err, `expected a DatasetError matching ${pattern}`).toBeInstanceOf(DatasetError);
  expect((err as Error).message).toMatch(pattern);
  console.log(`  ✓ message: ${(err as Error).message}`);
  return err as DatasetError;
}

function expectCifarContent(ds: DatasetSplits, n: number) {
  expect(ds.name).toBe('cifar10');
  expect(ds.train.count).toBe(5 * n);
  expect(ds.test.count).toBe(n);
  for (const split of [ds.train, ds.test]) {
    checkDataset(split);
    expect([split.height, split.width, split.channels]).toEqual([32, 32, 3]);
    expect(split.classes[0]).toBe('airplane');
  }
  // NHWC: pixel p, channel c of record r of file f.
  const fileAndRecord: [file: number, record: number][] = [
    [0, 0],
    [2, 1],
    [4, 2],
    [5, 2],
  ];
  for (const [f, r] of fileAndRecord) {
    const ds1 = f === 5 ? ds.test : ds.train;
    const rec = f === 5 ? r : f * n + r;
    expect(ds1.labels[rec]).toBe((r + f * 3) % 10);
    for (const p of [0, 1, 31, 32, 500, 1023])
      for (let c = 0; c < 3; c++) expect(ds1.images[(rec * 1024 + p) * 3 + c]).toBe((r * 7 + f * 13 + c * 50 + p) % 256);
  }
}

// ---------- CIFAR-10 ----------

describe('CIFAR-10 binary', () => {
  test('batch files in a directory (3 records each) → NHWC uint8', async () => {
    const dir = tempDir();
    for (const [f, b] of cifarFiles()) writeFileSync(join(dir, f), b);
    expectCifarContent(await loadDataset(dir, { recordsPerFile: 3 }), 3);
    expectCifarContent(await loadDataset(dir, { recordsPerFile: 'any' }), 3);
  });

  test('cifar-10-binary.tar.gz read directly (gzip + tar, cifar-10-batches-bin/ prefix)', async () => {
    const dir = tempDir();
    const tgz = gzipSync(cifarTar(cifarFiles()));
    writeFileSync(join(dir, 'cifar-10-binary.tar.gz'), tgz);
    expectCifarContent(await loadDataset(join(dir, 'cifar-10-binary.tar.gz'), { recordsPerFile: 3 }), 3);
    // The directory holding it, and the `cifar10` spec over a datasets directory.
    expectCifarContent(await loadDataset(dir, { recordsPerFile: 3 }), 3);
    expectCifarContent(await loadDataset('cifar10', { datasetsDir: dir, recordsPerFile: 3 }), 3);
    // The unpacked tarball: <dir>/cifar-10-batches-bin/ (with a stray file beside it).
    const up = tempDir();
    mkdirSync(join(up, 'cifar-10-batches-bin'));
    for (const [f, b] of cifarFiles()) writeFileSync(join(up, 'cifar-10-batches-bin', f), b);
    writeFileSync(join(up, 'notes.txt'), 'x');
    expectCifarContent(await loadDataset(up, { recordsPerFile: 3 }), 3);
    expectCifarContent(await loadDataset('cifar10', { datasetsDir: up, recordsPerFile: 3 }), 3);
    // An uncompressed tar with the files at the top level.
    expectCifarContent(await readCifarTarGz(cifarTar(cifarFiles(), ''), 'flat.tar', { recordsPerFile: 3 }), 3);
  });

  test('the tar reader skips non-files and honours GNU long names', () => {
    const long = 'x/'.repeat(80) + 'file.bin';
    const enc = new TextEncoder();
    const tar = makeTar([
      { name: 'dir/', type: '5' },
      { name: 'link', type: '2' },
      { name: '././@LongLink', type: 'L', data: enc.encode(long + '\0') },
      { name: 'truncated-name', data: new Uint8Array([1, 2, 3]) },
      { name: 'b.txt', data: enc.encode('hello') },
    ]);
    const entries = readTar(tar, 't.tar');
    expect(entries.map((e) => e.name)).toEqual([long, 'b.txt']);
    expect([...entries[0]!.data]).toEqual([1, 2, 3]);
  });

  test('truncated batch: not a whole number of records', () => {
    expect(() => parseCifarBatch(new Uint8Array(3072000), 'data_batch_3.bin')).toThrow(
      'data_batch_3.bin: 3072000 bytes is not a whole number of 3073-byte CIFAR-10 records (truncated?)',
    );
  });

  test('truncated batch: whole records but not 10000 of them (the real dataset)', async () => {
    expect(() => parseCifarBatch(new Uint8Array(3073 * 9999), 'data_batch_1.bin')).toThrow(/holds 9999 records; a CIFAR-10 batch file has 10000 \(30730000 bytes\)/);
    const dir = tempDir();
    for (const [f, b] of cifarFiles()) writeFileSync(join(dir, f), b);
    await rejectsWith(loadDataset(dir), /data_batch_1\.bin: 9219 bytes holds 3 records; a CIFAR-10 batch file has 10000/);
    writeFileSync(join(dir, 'data_batch_3.bin'), cifarBatch(3, 2).subarray(0, 9000));
    await rejectsWith(loadDataset(dir, { recordsPerFile: 3 }), /\/data_batch_3\.bin: 9000 bytes is not a whole number of 3073-byte CIFAR-10 records \(truncated\?\)/);
    await rejectsWith(loadDataset(dir, { recordsPerFile: 'any' }), /data_batch_3\.bin: 9000 bytes is not a whole number/);
  });

  test('labels beyond 9 and empty batch files are refused', () => {
    const b = cifarBatch(2, 0);
    b[3073] = 12;
    expect(() => parseCifarBatch(b, 'test_batch.bin', { recordsPerFile: 'any' })).toThrow(/test_batch\.bin: record 1 has label 12; CIFAR-10 labels are 0…9/);
    expect(() => parseCifarBatch(new Uint8Array(0), 'data_batch_2.bin')).toThrow(/data_batch_2\.bin: the file is empty/);
  });

  test('missing batch files (directory and archive)', async () => {
    const dir = tempDir();
    const files = cifarFiles();
    files.delete('data_batch_4.bin');
    files.delete('test_batch.bin');
    for (const [f, b] of files) writeFileSync(join(dir, f), b);
    await rejectsWith(loadDataset(dir, { recordsPerFile: 3 }), /missing CIFAR-10 batch files data_batch_4\.bin, test_batch\.bin/);
    await rejectsWith(readCifarTarGz(gzipSync(cifarTar(files)), 'cifar-10-binary.tar.gz', { recordsPerFile: 3 }), /^cifar-10-binary\.tar\.gz: missing CIFAR-10 batch files data_batch_4\.bin, test_batch\.bin/);
  });

  test('a truncated member inside the archive names the archive and the member', async () => {
    const files = cifarFiles();
    files.set('data_batch_3.bin', files.get('data_batch_3.bin')!.subarray(0, 5000));
    await rejectsWith(
      readCifarTarGz(gzipSync(cifarTar(files)), 'cifar-10-binary.tar.gz', { recordsPerFile: 3 }),
      /^cifar-10-binary\.tar\.gz: cifar-10-batches-bin\/data_batch_3\.bin: 5000 bytes is not a whole number of 3073-byte CIFAR-10 records \(truncated\?\)/,
    );
  });

  test('corrupt .tar.gz: bad gzip, truncated gzip, bad tar checksum, truncated tar', async () => {
    const tar = cifarTar(cifarFiles());
    const tgz = gzipSync(tar);
    const garbage = new Uint8Array(tgz); // a copy (Buffer.slice would share memory)
    for (let i = 20; i < 400; i++) garbage[i] = (garbage[i]! * 7 + 3) & 255;
    await rejectsWith(readCifarTarGz(garbage, 'cifar-10-binary.tar.gz'), /^cifar-10-binary\.tar\.gz: corrupt or truncated gzip data/);
    await rejectsWith(readCifarTarGz(tgz.subarray(0, tgz.length - 3), 'cifar-10-binary.tar.gz'), /^cifar-10-binary\.tar\.gz: corrupt or truncated gzip data \(unexpected end of file\)/);
    await rejectsWith(readCifarTarGz(tgz.subarray(0, tgz.length >> 1), 'cifar-10-binary.tar.gz'), /^cifar-10-binary\.tar\.gz: corrupt or truncated gzip data/);
    await rejectsWith(gunzip(new Uint8Array([1, 2, 3]), 'x.gz'), /^x\.gz: not a gzip file \(expected the magic bytes 1f 8b, got 01 02\)/);

    const badSum = tar.slice();
    badSum[512 + 3]! ^= 0x40; // a letter in the second header's name
    await rejectsWith(readCifarTarGz(gzipSync(badSum), 'cifar-10-binary.tar.gz'), /^cifar-10-binary\.tar\.gz: corrupt tar header at byte 512: checksum \d+ does not match the header's \d+/);
    // The gzip is fine but the tar inside stops in the middle of a member.
    await rejectsWith(readCifarTarGz(gzipSync(tar.subarray(0, 4096)), 'cifar-10-binary.tar.gz'), /truncated tar archive: entry "cifar-10-batches-bin\/data_batch_1\.bin" needs 9219 bytes/);
    // A .tar.gz that is not a tar at all.
    await rejectsWith(readCifarTarGz(gzipSync(new Uint8Array(2000).fill(65)), 'notes.tar.gz'), /^notes\.tar\.gz: corrupt tar header at byte 0/);
  });
});

// ---------- IDX ----------

describe('IDX (MNIST / Fashion-MNIST)', () => {
  for (const gz of [true, false]) {
    test(`a directory of IDX files (${gz ? '.gz' : 'raw'})`, async () => {
      const dir = tempDir();
      writeIdxDir(dir, { gz });
      const ds = await loadDataset(dir);
      expect(ds.train.count).toBe(12);
      expect(ds.test.count).toBe(5);
      expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([28, 28, 1]);
      checkDataset(ds.train);
      checkDataset(ds.test);
      expect(ds.train.labels[11]).toBe(1);
      expect(ds.train.images[100]).toBe((100 * 31) % 256);
      // Unknown IDX data: digits as classes, normalised with its own training statistics.
      expect(ds.train.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(ds.train.mean[0]).toBeCloseTo(channelStats(ds.train.images, 1).mean[0]!, 12);
      expect(ds.test.mean).toEqual(ds.train.mean);
    });
  }

  test('wrong magic numbers', () => {
    expect(() => parseIdxImages(idxLabels(4), 'train-images-idx3-ubyte')).toThrow(
      'train-images-idx3-ubyte: wrong magic number 0x00000801 (that is a labels file); expected 0x00000803 (IDX uint8 images, 3 dimensions)',
    );
    expect(() => parseIdxLabels(idxImages(2, 28, 28), 'train-labels-idx1-ubyte')).toThrow(/wrong magic number 0x00000803 \(that is an images file\); expected 0x00000801/);
    expect(() => parseIdxImages(idxImages(2, 4, 4, 0x00000d03), 'x-images')).toThrow(/x-images: wrong magic number 0x00000d03; expected 0x00000803/);
  });

  test('truncated IDX files and zero dimensions', () => {
    expect(() => parseIdxImages(idxImages(3, 28, 28).subarray(0, 1000), 'img')).toThrow(/img: 1000 bytes, but the header's 3×28×28 images need 2368 \(truncated\?\)/);
    expect(() => parseIdxImages(idxImages(1, 2, 2).subarray(0, 10), 'img')).toThrow(/img: 10 bytes is too short for an IDX images header/);
    expect(() => parseIdxLabels(idxLabels(7).subarray(0, 10), 'lbl')).toThrow(/lbl: 10 bytes, but the header's 7 labels need 15 \(truncated\?\)/);
    expect(() => parseIdxImages(idxImages(2, 0, 5).subarray(0, 16), 'img')).toThrow(/dimensions 2×0×5 must all be positive/);
  });

  test('images/labels count mismatch, wrong magic in a directory, mismatched dims', async () => {
    const a = tempDir();
    writeIdxDir(a, { trainLabels: 11 });
    await rejectsWith(loadDataset(a), /train-labels-idx1-ubyte\.gz: 11 labels, but .*train-images-idx3-ubyte\.gz has 12 images \(the two files must match\)/);
    const b = tempDir();
    writeIdxDir(b, { imagesMagic: 0x801 });
    await rejectsWith(loadDataset(b), /train-images-idx3-ubyte\.gz: wrong magic number 0x00000801/);
    const c = tempDir();
    writeIdxDir(c, { train: [4, 20, 20], test: [3, 20, 20] });
    await rejectsWith(loadDataset('fashion-mnist', { fashionMnistDir: c }), /train-images-idx3-ubyte\.gz: images are 20×20; fashion-mnist images are 28×28 \(wrong file\?\)/);
    const d = tempDir();
    writeIdxDir(d, { train: [4, 28, 28], test: [3, 20, 20] });
    await rejectsWith(loadDataset(d), /t10k-images-idx3-ubyte\.gz: test images are 20×20 but .*train-images-idx3-ubyte\.gz are 28×28/);
    const e = tempDir();
    writeIdxDir(e);
    rmSync(join(e, 't10k-labels-idx1-ubyte.gz'));
    await rejectsWith(loadDataset(e), /IDX test labels file is missing/);
  });

  test('a .gz name on a file that is not gzip', async () => {
    const dir = tempDir();
    writeIdxDir(dir, { gz: false });
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), idxImages(12, 28, 28));
    rmSync(join(dir, 'train-images-idx3-ubyte'));
    await rejectsWith(loadDataset(dir), /train-images-idx3-ubyte\.gz: not a gzip file \(expected the magic bytes 1f 8b, got 00 00\)/);
  });
});

// ---------- specs, empty directories, no partial state ----------

describe('loadDataset specs and bad places', () => {
  test('an empty directory, a directory of other files, a missing path', async () => {
    const empty = tempDir();
    await rejectsWith(loadDataset(empty), /: no files here \(expected CIFAR-10 \(data_batch_1\.bin/);
    const other = tempDir();
    writeFileSync(join(other, 'notes.txt'), 'hi');
    await rejectsWith(loadDataset(other), /no dataset files found among 1 file \(notes\.txt\)/);
    await rejectsWith(loadDataset(join(root, 'nope')), /nope: no such file or directory/);
  });

  test('fashion-mnist and cifar10 specs say how to get the data when it is missing', async () => {
    await rejectsWith(loadDataset('fashion-mnist', { fashionMnistDir: join(root, 'absent') }), /apt-get install dataset-fashion-mnist/);
    await rejectsWith(loadDataset('cifar10', { datasetsDir: tempDir() }), /npm run datasets -- cifar10/);
    await rejectsWith(loadDataset('bundled', { datasetsDir: tempDir() }), /node scripts\/make-bundled-sample\.mjs/);
  });

  test('a failed load keeps nothing: the download check leaves no file behind', async () => {
    // A plain-JS script: imported through a variable so TypeScript does not look for its types.
    const script = '../scripts/datasets.mjs';
    const { cifar10 } = (await import(/* @vite-ignore */ script)) as { cifar10: (o: { file?: string; dir?: string }) => Promise<string> };
    const dir = tempDir();
    const fake = join(root, 'fake-cifar.tar.gz');
    writeFileSync(fake, gzipSync(cifarTar(cifarFiles())));
    const err = await cifar10({ file: fake, dir }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/expected 170052171 bytes with md5 c32a1d4ab5d03f1284b67883e8d87530/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

// ---------- the bundled sample and the real Fashion-MNIST ----------

describe('bundled sample and Fashion-MNIST', () => {
  test('the bundled sample: 3000 train / 1000 test, balanced, 28×28', async () => {
    const ds = await loadDataset('bundled');
    expect(ds.name).toBe('fashion-mnist-sample');
    expect(ds.train.count).toBe(3000);
    expect(ds.test.count).toBe(1000);
    expect(classCounts(ds.train)).toEqual(new Array(10).fill(300));
    expect(classCounts(ds.test)).toEqual(new Array(10).fill(100));
    expect(ds.train.classes[9]).toBe('Ankle boot');
    expect(ds.train.mean).toEqual([0.286]);
    const stats = channelStats(ds.train.images, 1);
    expect(stats.mean[0]).toBeGreaterThan(0.25);
    expect(stats.mean[0]).toBeLessThan(0.33);
    const bytes = Object.values(readdirSync(defaultDatasetsDir()))
      .filter((f) => f.startsWith('fashion-mnist-sample'))
      .reduce((a, f) => a + readFileSync(join(defaultDatasetsDir(), f)).length, 0);
    console.log(`[bundled] ${bytes} bytes on disk`);
    expect(bytes).toBeLessThan(2_100_000);
  });

  test('the same sample through fetch() (the browser path)', async () => {
    const dir = defaultDatasetsDir();
    const fakeFetch = (async (url: string) => {
      const name = String(url).replace('/datasets/', '');
      const p = join(dir, name);
      return existsSync(p) ? new Response(readFileSync(p)) : new Response('not found', { status: 404, statusText: 'Not Found' });
    }) as typeof fetch;
    const ds = await fetchBundledSample('/datasets/', fakeFetch);
    expect(ds.train.count).toBe(3000);
    await rejectsWith(loadFromSource(urlSource('/datasets/', ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'], fakeFetch)), /\/datasets\/train-images-idx3-ubyte\.gz: HTTP 404 Not Found/);
    // A dev server's fallback page for a missing file is not data.
    const spaFetch = (async () => new Response('<!doctype html>', { headers: { 'content-type': 'text/html' } })) as typeof fetch;
    await rejectsWith(fetchBundledSample('/datasets/', spaFetch), /^\/datasets\/[\w.-]+: not found on the server \(it answered with a web page\)/);
  });

  const hasFashion = existsSync(join(SYSTEM_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
  if (!hasFashion) console.log(`[data] ${SYSTEM_FASHION_MNIST_DIR} not installed: skipping the real Fashion-MNIST test (apt-get install dataset-fashion-mnist)`);
  test.skipIf(!hasFashion)('the real Fashion-MNIST (installed): 60000 / 10000, and the sample is its first 300 per class', async () => {
    const ds = await loadDataset('fashion-mnist');
    expect(ds.train.count).toBe(60000);
    expect(ds.test.count).toBe(10000);
    expect(classCounts(ds.train)).toEqual(new Array(10).fill(6000));
    const stats = channelStats(ds.train.images, 1);
    expect(stats.mean[0]).toBeCloseTo(0.286, 3);
    expect(stats.std[0]).toBeCloseTo(0.353, 3);
    // The bundled sample's first training image of each class is the dataset's first of that class.
    const sample = await loadDataset('bundled');
    for (let k = 0; k < 10; k++) {
      const i = ds.train.labels.indexOf(k);
      const j = sample.train.labels.indexOf(k);
      expect(sample.train.images.subarray(j * 784, (j + 1) * 784)).toEqual(ds.train.images.subarray(i * 784, (i + 1) * 784));
    }
  });

  const cifarHere = existsSync(join(defaultDatasetsDir(), 'cifar-10-binary.tar.gz')) || existsSync(join(defaultDatasetsDir(), 'cifar-10-batches-bin'));
  if (!cifarHere) console.log('[data] CIFAR-10 not downloaded: skipping the real CIFAR-10 test (npm run datasets -- cifar10)');
  test.skipIf(!cifarHere)('the real CIFAR-10 (downloaded): 50000 / 10000', async () => {
    const ds = await loadDataset('cifar10');
    expect(ds.train.count).toBe(50000);
    expect(ds.test.count).toBe(10000);
    expect(classCounts(ds.test)).toEqual(new Array(10).fill(1000));
    const stats = channelStats(ds.train.images, 3);
    stats.mean.forEach((m, c) => expect(m).toBeCloseTo([0.4914, 0.4822, 0.4465][c]!, 3));
  });
});
