// Bounded decompression (issue 16, item 1): a gzip file is refused WHILE it inflates once its
// output passes what the format can hold — an IDX header's dimensions, CIFAR-10's six batch files
// in a tar, a caller's limit — and a wrong magic number or tar header stops it after the first
// bytes. Before, gunzip inflated everything first (a 1 MB file → 1 GiB, 3.2 GB of memory).
import { createGzip, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { CIFAR_TAR_MAX_BYTES, readCifarTarGz } from '../src/data/cifar.ts';
import { DatasetError } from '../src/data/dataset.ts';
import { gunzip, gunzipWeb, gzipSizeHint } from '../src/data/gzip.ts';
import { readIdxSplit } from '../src/data/idx.ts';

/** gzip of `header` followed by `zeros` zero bytes, compressed as a stream (never held inflated). */
async function bomb(header: Uint8Array, zeros: number): Promise<Uint8Array> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => gz.on('end', resolve));
  gz.write(header);
  const block = Buffer.alloc(1 << 20);
  for (let left = zeros; left > 0; left -= block.length) {
    if (!gz.write(left >= block.length ? block : block.subarray(0, left))) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  return new Uint8Array(Buffer.concat(out));
}

function idxImagesHeader(n: number, h: number, w: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x803);
  v.setUint32(4, n);
  v.setUint32(8, h);
  v.setUint32(12, w);
  return b;
}

function idxLabels(n: number): Uint8Array {
  const b = new Uint8Array(8 + n);
  new DataView(b.buffer).setUint32(0, 0x801);
  new DataView(b.buffer).setUint32(4, n);
  return b;
}

async function refusal(p: Promise<unknown>): Promise<DatasetError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(DatasetError);
  return e as DatasetError;
}

describe('gzip is inflated only as far as the format allows', () => {
  test('a 64 MiB bomb behind a valid IDX header (3×28×28) stops at the header\'s 2368 bytes', async () => {
    const gz = await bomb(idxImagesHeader(3, 28, 28), 64 << 20);
    expect(gz.length).toBeLessThan(100_000);
    const t0 = performance.now();
    const e = await refusal(readIdxSplit({ images: { name: 'train-images-idx3-ubyte.gz', bytes: gz }, labels: { name: 'l.gz', bytes: gzipSync(idxLabels(3)) } }, { name: 'mnist', split: 'train' }));
    const ms = performance.now() - t0;
    expect(e.message).toMatch(/^train-images-idx3-ubyte\.gz: inflates to more than 2368 bytes, more than an IDX images file can hold; refused while decompressing/);
    // Inflating all 64 MiB takes several hundred ms here; stopping at the header's size does not.
    expect(ms).toBeLessThan(250);
    console.log(`IDX bomb (${gz.length} bytes gzip → 64 MiB): refused in ${ms.toFixed(1)} ms`);
  });

  test('a bomb of zeros as an IDX file is refused at its magic number, as a .tar.gz at its first block', async () => {
    const gz = await bomb(new Uint8Array(0), 256 << 20);
    const t0 = performance.now();
    const e = await refusal(readIdxSplit({ images: { name: 'x-images.gz', bytes: gz }, labels: { name: 'l.gz', bytes: gzipSync(idxLabels(3)) } }, { name: 'mnist', split: 'train' }));
    expect(e.message).toMatch(/^x-images\.gz: wrong magic number 0x00000000; expected 0x00000803/);
    const t = await refusal(readCifarTarGz(gz, 'cifar-10-binary.tar.gz'));
    expect(t.message).toBe('cifar-10-binary.tar.gz: the tar archive is empty (its first header block is all zeros)');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  test('a header claiming more than the IDX limit is refused from the header alone', async () => {
    const e = await refusal(readIdxSplit({ images: { name: 'big-images.gz', bytes: gzipSync(idxImagesHeader(100_000, 1000, 1000)) }, labels: { name: 'l.gz', bytes: gzipSync(idxLabels(3)) } }, { name: 'mnist', split: 'train' }));
    expect(e.message).toMatch(/^big-images\.gz: the header's 100000×1000×1000 images need 100000000016 bytes, over the 1073741824-byte limit for IDX files/);
  });

  test('a caller\'s limit is checked while inflating, and what is inside the limit comes back whole', async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
    const gz = gzipSync(data);
    expect(await gunzip(gz, 'ok.gz', { maxBytes: 300_000, what: 'this test' })).toEqual(data);
    const e = await refusal(gunzip(gz, 'small.gz', { maxBytes: 100_000, what: 'this test\'s 100 kB' }));
    expect(e.message).toMatch(/^small\.gz: inflates to more than 100000 bytes, more than this test's 100 kB can hold/);
  });

  test('the page\'s path (DecompressionStream) applies the same limit and inspection', async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
    const gz = gzipSync(data);
    expect(Array.from(await gunzipWeb(gz, 'ok.gz', { maxBytes: 300_000, what: 'this test' })).slice(0, 5)).toEqual([0, 31, 62, 93, 124]);
    expect((await refusal(gunzipWeb(gz, 'small.gz', { maxBytes: 100_000, what: 'this test\'s 100 kB' }))).message).toMatch(/^small\.gz: inflates to more than 100000 bytes/);
    const b = await bomb(idxImagesHeader(3, 28, 28), 16 << 20);
    expect((await refusal(gunzipWeb(b, 'w.gz', { maxBytes: 1 << 30, what: 'an IDX images file', headBytes: 16, inspect: () => 2368 }))).message).toMatch(/^w\.gz: inflates to more than 2368 bytes/);
    expect((await refusal(gunzipWeb(gz.subarray(0, gz.length >> 1), 'cut.gz'))).message).toMatch(/^cut\.gz: corrupt or truncated gzip data/);
  });

  test('the trailer\'s size is a bounded hint: a lying trailer cannot make a small file allocate much', async () => {
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 7) % 13);
    const gz = new Uint8Array(gzipSync(data));
    expect(gzipSizeHint(gz)).toBe(1 << 20);
    const lying = gz.slice();
    new DataView(lying.buffer).setUint32(lying.length - 4, 0xffffffff, true);
    expect(gzipSizeHint(lying)).toBe(1032 * lying.length + 1024);
    // Two members: the trailer states only the last one's size; past it, chunks are collected.
    const twoMembers = new Uint8Array(Buffer.concat([gzipSync(data.subarray(0, 900_000)), gzipSync(data.subarray(900_000))]));
    expect(gzipSizeHint(twoMembers)).toBe((1 << 20) - 900_000);
    for (const b of [gz, twoMembers]) {
      expect(Buffer.from(await gunzip(b, 'x.gz')).equals(Buffer.from(data))).toBe(true);
      expect(Buffer.from(await gunzipWeb(b, 'x.gz')).equals(Buffer.from(data))).toBe(true);
    }
    // A lying trailer is damage: zlib checks it.
    await expect(gunzip(lying, 'lying.gz')).rejects.toThrow(/^lying\.gz: corrupt or truncated gzip data \(incorrect length check\)/);
  });

  test('the CIFAR-10 tar limit is six batch files plus tar overhead', () => {
    expect(CIFAR_TAR_MAX_BYTES).toBe(6 * 30_730_000 + (1 << 20));
  });
});
