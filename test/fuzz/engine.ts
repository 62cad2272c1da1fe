// The fuzz suite's engine (issue 16): for each reader (npy, safetensors, checkpoint, CIFAR .bin,
// tar, tar.gz, IDX raw and .gz) valid seed files, a seeded generator of mutations — truncation at
// every boundary, bit flips, overwritten bytes and 32-bit sizes, spliced chunks, format-aware
// hostile headers (huge declared sizes, deep nesting, prototype keys, non-finite weights, gzip
// bombs) — and a runner that feeds each case to the reader and checks what came out: either a
// value, or an error of the reader's own class whose message names the file; no case over the
// time budget or the memory budget. test/fuzz.test.ts runs a few hundred cases per reader in CI;
// scripts/fuzz.ts (`npm run fuzz -- --cases 10000`) the full run.
import { gunzipSync, gzipSync } from 'node:zlib';
import { parseCifarBatch, readCifarTarGz, CIFAR_TAR_MAX_BYTES } from '../../src/data/cifar.ts';
import { DatasetError } from '../../src/data/dataset.ts';
import { readIdxSplit } from '../../src/data/idx.ts';
import { encodeNpy, NpyError, parseNpy } from '../../src/io/npy.ts';
import { encodeSafetensors, parseSafetensors, SafetensorsError } from '../../src/io/safetensors.ts';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, initialState } from '../../src/nn/checkpoint.ts';
import { defaultModelConfig } from '../../src/nn/config.ts';
import { cifarBatch, cifarFiles, cifarTar, idxImages, idxLabels, makeTar } from '../helpers/formats.ts';

// ---------------------------------------------------------------------------------------------
// A small seeded generator (mulberry32): the same seed gives the same cases on every machine.

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Cases and readers.

export interface FuzzCase {
  /** What the mutation was, for the report of a failing case. */
  label: string;
  /** The file name passed to the reader (its messages must contain it). */
  file: string;
  bytes: Uint8Array;
  /** For cases that may legitimately use more memory (a bomb up to the format's maximum): that maximum. */
  formatMax?: number;
}

export interface FuzzReader {
  id: string;
  /** The reader's own error classes: anything else thrown is a leaked internal error. */
  errors: (abstract new (...args: never[]) => Error)[];
  /** Valid files of the format (the reader accepts each). */
  seeds(): Uint8Array[];
  /** The file name a case is read under. */
  file: string;
  /** Reads one case (throws the reader's errors). */
  read(bytes: Uint8Array, file: string): unknown;
  /** Whether mutations go inside the gzip (recompressed) as well as at the gzip bytes. */
  gzip?: boolean;
  /** Format-aware hostile inputs: plain bytes (already gzipped for .gz readers). */
  hostile(rng: Rng, big: boolean): FuzzCase[] | Promise<FuzzCase[]>;
}

const enc = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function npyWithHeader(header: string, data = new Uint8Array(0), major = 1): Uint8Array {
  const text = enc.encode(header);
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, Math.min(text.length, 0xffff), true);
  else dv.setUint32(8, text.length, true);
  out.set(text, pre);
  out.set(data, pre + text.length);
  return out;
}

function safetensorsWithHeader(header: string, data = new Uint8Array(0), declared?: number): Uint8Array {
  const text = enc.encode(header);
  const out = new Uint8Array(8 + text.length + data.length);
  const dv = new DataView(out.buffer);
  const n = declared ?? text.length;
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const CKPT_CONFIG = defaultModelConfig(1, { width: 1 / 16, prototypes: 4, projHidden: 8, projOut: 4, imageSize: 8 });
let checkpointSeed: Uint8Array | null = null;
function validCheckpoint(): Uint8Array {
  return (checkpointSeed ??= encodeCheckpoint(initialState(CKPT_CONFIG, 1)));
}

/** A checkpoint rewritten: its tensors through `edit`, its mira.config merged with `config` (or replaced by `raw`). */
function rewriteCheckpoint(edit: (t: Map<string, { dtype?: 'F32' | 'I64' | 'F64' | 'U8'; shape: number[]; data: Float32Array | BigInt64Array | Float64Array | Uint8Array }>) => void, config: Record<string, unknown> = {}, raw?: string): Uint8Array {
  const f = parseSafetensors(validCheckpoint(), 'seed');
  const tensors = new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype as 'F32' | 'I64', shape: t.shape, data: t.data as Float32Array | BigInt64Array }]));
  edit(tensors as never);
  const stored = JSON.parse(f.metadata['mira.config']!);
  return encodeSafetensors(tensors, { ...f.metadata, 'mira.config': raw ?? JSON.stringify({ ...stored, ...config }) });
}

/** gzip of `head` then `zeros` zero bytes, compressed a megabyte at a time (never held inflated). */
export function gzipBomb(head: Uint8Array, zeros: number): Uint8Array {
  // Deflate of a run of zeros repeats: compress one 1 MiB block once, and gzip members concatenate
  // (RFC 1952 §2.2; DecompressionStream reads them as one stream).
  const block = gzipSync(new Uint8Array(1 << 20), { level: 9 });
  const parts: Uint8Array[] = [gzipSync(head)];
  for (let left = zeros; left > 0; left -= 1 << 20) parts.push(left >= 1 << 20 ? block : gzipSync(new Uint8Array(left), { level: 9 }));
  return concat(...parts);
}

function idxHeader(magic: number, dims: number[]): Uint8Array {
  const b = new Uint8Array(4 + 4 * dims.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, magic);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d >>> 0));
  return b;
}

/** One tar header block for `name` with a raw 12-byte size field. */
function tarHeader(name: string, sizeField: Uint8Array, type = '0'): Uint8Array {
  const h = new Uint8Array(512);
  h.set(enc.encode(name.slice(0, 100)), 0);
  h.set(enc.encode('0000644\0'), 100);
  h.set(sizeField.subarray(0, 12), 124);
  h.set(enc.encode('        '), 148);
  h[156] = type.charCodeAt(0);
  h.set(enc.encode('ustar\0'), 257);
  h.set(enc.encode('00'), 263);
  let sum = 0;
  for (const v of h) sum += v;
  h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  return h;
}

const IDX_LABELS_OK = idxLabels(4);
const IDX_IMAGES_OK = idxImages(4, 6, 5);

function idxRead(bytes: Uint8Array, file: string, gz: boolean): Promise<unknown> {
  // The case is the images file when its name says so, else the labels file; the other is valid.
  const other = (b: Uint8Array) => (gz ? gzipSync(b) : b);
  const images = /images/.test(file);
  const files = images
    ? { images: { name: file, bytes }, labels: { name: gz ? 'labels-idx1-ubyte.gz' : 'labels-idx1-ubyte', bytes: other(IDX_LABELS_OK) } }
    : { images: { name: gz ? 'images-idx3-ubyte.gz' : 'images-idx3-ubyte', bytes: other(IDX_IMAGES_OK) }, labels: { name: file, bytes } };
  return readIdxSplit(files, { name: 'fuzz', split: 'train' });
}

function idxReader(gz: boolean): FuzzReader {
  const wrap = (b: Uint8Array) => (gz ? gzipSync(b) : b);
  return {
    id: gz ? 'idx.gz' : 'idx',
    errors: [DatasetError],
    file: gz ? 'fuzz-images-idx3-ubyte.gz' : 'fuzz-images-idx3-ubyte',
    gzip: gz,
    seeds: () => [wrap(IDX_IMAGES_OK), wrap(idxImages(1, 1, 1)), wrap(idxImages(3, 28, 28))],
    read: (bytes, file) => idxRead(bytes, file, gz),
    hostile: (rng, big) => {
      const file = gz ? 'fuzz-images-idx3-ubyte.gz' : 'fuzz-images-idx3-ubyte';
      const labels = gz ? 'fuzz-labels-idx1-ubyte.gz' : 'fuzz-labels-idx1-ubyte';
      const huge = [0xffffffff, 0x7fffffff, 0x80000000, 60000, 1 << 20, 0];
      const cases: FuzzCase[] = [
        { label: 'images header with huge dimensions', file, bytes: wrap(concat(idxHeader(0x803, [rng.pick(huge), rng.pick(huge), rng.pick(huge)]), new Uint8Array(rng.int(64)))) },
        { label: 'labels header with a huge count', file: labels, bytes: wrap(concat(idxHeader(0x801, [rng.pick(huge)]), new Uint8Array(rng.int(64)))) },
        { label: 'labels file given as images', file, bytes: wrap(idxLabels(4)) },
        { label: 'images file given as labels', file: labels, bytes: wrap(idxImages(4, 6, 5)) },
        { label: 'labels ≥ 10', file: labels, bytes: wrap(concat(idxHeader(0x801, [4]), Uint8Array.of(1, 200, 3, 4))) },
      ];
      if (gz) {
        const zeros = big ? 1 << 30 : 16 << 20;
        cases.push({ label: `gzip bomb: ${zeros} zero bytes`, file, bytes: gzipBomb(new Uint8Array(0), zeros) });
        // A valid header for 60000 28×28 images (Fashion-MNIST's size), then a bomb: stops at the header's size.
        const claimed = 16 + 60000 * 28 * 28;
        cases.push({ label: `gzip bomb behind a valid 60000×28×28 header: ${zeros} bytes`, file, bytes: gzipBomb(idxHeader(0x803, [60000, 28, 28]), zeros), formatMax: claimed });
        cases.push({ label: 'concatenated garbage after the gzip member', file, bytes: concat(gzipSync(IDX_IMAGES_OK), Uint8Array.of(1, 2, 3)) });
      }
      return cases;
    },
  };
}

const CIFAR_SEED = cifarBatch(3, 0);

export const READERS: FuzzReader[] = [
  {
    id: 'npy',
    errors: [NpyError],
    file: 'fuzz.npy',
    seeds: () => [encodeNpy(Float32Array.from({ length: 12 }, (_, i) => i / 3), [3, 4]), encodeNpy(new Uint8Array(18), [2, 3, 3]), encodeNpy(BigInt64Array.of(5n), []), encodeNpy(Uint8Array.of(0, 1, 1), [3], 'bool'), encodeNpy(new Float64Array(0), [0, 5])],
    read: (bytes, file) => parseNpy(bytes, file),
    hostile: (rng) => {
      const depth = rng.pick([10, 1000, 4900, 20000]);
      const dims = Array.from({ length: 1 + rng.int(4) }, () => rng.pick(['0', '1', '4294967296', '9'.repeat(400), '-1', 'True', 'None', "'x'"]));
      const descr = rng.pick(["'<f4'", "'>f8'", "'|O'", "'constructor'", "'__proto__'", "[('a', '<f4')]", "'<f4<f4<f4'", "'" + '<'.repeat(3000) + "'", '{}']);
      return [
        { label: `nested brackets ×${depth}`, file: 'fuzz.npy', bytes: npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(depth)}${')'.repeat(depth)}, }`, new Uint8Array(0), depth > 4000 ? 2 : 1) },
        { label: `unclosed nesting ×${depth}`, file: 'fuzz.npy', bytes: npyWithHeader(`{'shape': ${'['.repeat(depth)}`, new Uint8Array(0), 2) },
        { label: `hostile shape (${dims.join(', ').slice(0, 40)})`, file: 'fuzz.npy', bytes: npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')},), }`, new Uint8Array(16)) },
        { label: 'hostile descr', file: 'fuzz.npy', bytes: npyWithHeader(`{'descr': ${descr}, 'fortran_order': False, 'shape': (2,), }`, new Uint8Array(8), 2) },
        { label: 'huge declared header length', file: 'fuzz.npy', bytes: (() => { const b = npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4), 2); new DataView(b.buffer).setUint32(8, rng.pick([0xffffffff, 0x7fffffff, 10001, 65536]), true); return b; })() },
        { label: 'prototype keys in the header dict', file: 'fuzz.npy', bytes: npyWithHeader("{'__proto__': {'descr': '<f4'}, 'constructor': 1, 'shape': (1,), 'fortran_order': False}", new Uint8Array(4)) },
      ];
    },
  },
  {
    id: 'safetensors',
    errors: [SafetensorsError],
    file: 'fuzz.safetensors',
    seeds: () => [
      encodeSafetensors({ a: { shape: [2, 3], data: new Float32Array(6).fill(1.5) }, b: { shape: [], data: BigInt64Array.of(7n) }, c: { dtype: 'F16', shape: [3], data: Float32Array.of(1, 2, 3) } }, { format: 'pt', note: 'fuzz' }),
      encodeSafetensors({ u: { shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) } }),
      encodeSafetensors({}),
    ],
    read: (bytes, file) => parseSafetensors(bytes, file),
    hostile: (rng) => {
      const dtype = rng.pick(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'F8_E4M3', '', 'f32']);
      const n = rng.pick([1, 100, 20000]);
      const depth = rng.pick([100, 10000, 100000]);
      const big = rng.pick([2 ** 53, 2 ** 40, 0xffffffff, 1e300]);
      return [
        { label: `dtype "${dtype}"`, file: 'fuzz.safetensors', bytes: safetensorsWithHeader(`{"a":{"dtype":"${dtype}","shape":[2],"data_offsets":[0,8]}}`, new Uint8Array(8)) },
        { label: 'huge shape', file: 'fuzz.safetensors', bytes: safetensorsWithHeader(`{"a":{"dtype":"F64","shape":[${big},${big}],"data_offsets":[0,8]}}`, new Uint8Array(8)) },
        { label: 'huge offsets', file: 'fuzz.safetensors', bytes: safetensorsWithHeader(`{"a":{"dtype":"U8","shape":[${big}],"data_offsets":[0,${big}]}}`, new Uint8Array(8)) },
        { label: `nested ×${depth}`, file: 'fuzz.safetensors', bytes: safetensorsWithHeader(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`) },
        { label: `${n} long keys`, file: 'fuzz.safetensors', bytes: safetensorsWithHeader(`{${Array.from({ length: n }, (_, i) => `"${'k'.repeat(200)}${i}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`).join(',')}}`, new Uint8Array(n + 1)) },
        { label: 'huge declared header length', file: 'fuzz.safetensors', bytes: safetensorsWithHeader('{}', new Uint8Array(8), rng.pick([2 ** 53, 2 ** 40, 100_000_001, 0xffffffff])) },
        { label: 'metadata not strings', file: 'fuzz.safetensors', bytes: safetensorsWithHeader(`{"__metadata__":{"m":[${new Array(n).fill(1).join(',')}]}}`) },
        { label: '__proto__ tensor', file: 'fuzz.safetensors', bytes: safetensorsWithHeader('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', new Uint8Array(2)) },
      ];
    },
  },
  {
    id: 'checkpoint',
    errors: [CheckpointError],
    file: 'fuzz-model.safetensors',
    seeds: () => [validCheckpoint()],
    read: (bytes, file) => decodeCheckpoint(bytes, file),
    hostile: (rng) => {
      const file = 'fuzz-model.safetensors';
      const value = rng.pick<unknown>(['x', -1, -1e308, 1.5, 2 ** 60, null, [1], { a: 1 }, 1e308, true, '', 0.0625, 3, 32, 'mira', 'swav!']);
      const field = rng.pick(['width', 'in_channels', 'image_size', 'stem_padding', 'mean', 'std', 'proj_hidden', 'proj_out', 'prototypes', 'step', 'method', '__proto__', 'constructor']);
      const bad = rng.pick([NaN, Infinity, -Infinity]);
      return [
        { label: `mira.config ${field} = ${JSON.stringify(value)}`, file, bytes: rewriteCheckpoint(() => {}, Object.defineProperty({}, field, { value, enumerable: true })) },
        { label: 'mira.config not an object', file, bytes: rewriteCheckpoint(() => {}, {}, rng.pick(['[1,2]', '"x"', 'null', '1', '{', '{"__proto__":{"width":1}}', '{"constructor":{}}'])) },
        { label: `a ${bad} weight`, file, bytes: rewriteCheckpoint((t) => { const k = rng.pick([...t.keys()].filter((x) => t.get(x)!.data instanceof Float32Array)); (t.get(k)!.data as Float32Array)[0] = bad; }) },
        { label: 'many unexpected keys', file, bytes: rewriteCheckpoint((t) => { for (let i = 0; i < 500; i++) t.set(`x.${'y'.repeat(300)}.${i}`, { shape: [1], data: new Float32Array(1) }); }) },
        { label: 'a tensor of the wrong dtype and shape', file, bytes: rewriteCheckpoint((t) => { const k = rng.pick([...t.keys()]); const n = rng.int(5); t.set(k, { dtype: 'U8', shape: [n], data: new Uint8Array(n) }); }) },
        { label: 'huge model configuration', file, bytes: rewriteCheckpoint(() => {}, { width: 1e6, prototypes: 2 ** 40, proj_hidden: 2 ** 40, image_size: 2 ** 30 }) },
      ];
    },
  },
  {
    id: 'cifar.bin',
    errors: [DatasetError],
    file: 'data_batch_1.bin',
    seeds: () => [CIFAR_SEED, cifarBatch(1, 2)],
    read: (bytes, file) => parseCifarBatch(bytes, file, { recordsPerFile: 'any' }),
    hostile: (rng) => [
      { label: 'label > 9', file: 'data_batch_1.bin', bytes: (() => { const b = CIFAR_SEED.slice(); b[3073 * rng.int(3)] = 10 + rng.int(246); return b; })() },
      { label: 'a record short', file: 'data_batch_1.bin', bytes: CIFAR_SEED.subarray(0, 3073 * 3 - 1 - rng.int(3000)) },
      { label: 'the full 10000 records required', file: 'data_batch_1.bin', bytes: CIFAR_SEED },
    ],
  },
  {
    id: 'tar',
    errors: [DatasetError],
    file: 'fuzz.tar',
    seeds: () => [cifarTar(cifarFiles(2)), cifarTar(cifarFiles(1), '')],
    read: (bytes, file) => readCifarTarGz(bytes, file, { recordsPerFile: 'any' }),
    hostile: (rng) => tarHostile(rng, 'fuzz.tar', (b) => b),
  },
  {
    id: 'tar.gz',
    errors: [DatasetError],
    file: 'fuzz.tar.gz',
    gzip: true,
    seeds: () => [gzipSync(cifarTar(cifarFiles(2))), gzipSync(cifarTar(cifarFiles(1), ''))],
    read: (bytes, file) => readCifarTarGz(bytes, file, { recordsPerFile: 'any' }),
    hostile: (rng, big) => {
      const zeros = big ? 1 << 30 : 16 << 20;
      const cases = tarHostile(rng, 'fuzz.tar.gz', (b) => gzipSync(b));
      cases.push({ label: `gzip bomb: ${zeros} zero bytes`, file: 'fuzz.tar.gz', bytes: gzipBomb(new Uint8Array(0), zeros) });
      // A member claiming 8 GB, then a bomb: inflating stops at CIFAR_TAR_MAX_BYTES (only in the full run: 185 MB).
      const sizeField = new Uint8Array(12);
      sizeField[0] = 0x80;
      new DataView(sizeField.buffer).setUint32(8, 0xffffffff);
      cases.push({ label: `gzip bomb behind a tar header claiming a huge member: ${big ? CIFAR_TAR_MAX_BYTES + (1 << 20) : zeros} bytes`, file: 'fuzz.tar.gz', bytes: gzipBomb(tarHeader('cifar-10-batches-bin/data_batch_1.bin', sizeField), big ? CIFAR_TAR_MAX_BYTES + (1 << 20) : zeros), formatMax: CIFAR_TAR_MAX_BYTES });
      return cases;
    },
  },
  idxReader(false),
  idxReader(true),
];

function tarHostile(rng: Rng, file: string, wrap: (b: Uint8Array) => Uint8Array): FuzzCase[] {
  const huge = new Uint8Array(12);
  huge[0] = 0x80;
  for (let i = 1; i < 12; i++) huge[i] = 0xff;
  const octal = enc.encode(rng.pick(['77777777777\0', '99999999999\0', '-1\0', '1e10\0', '\xff\xff\xff\xff']));
  const end = new Uint8Array(1024);
  const files = cifarFiles(1);
  return [
    { label: 'a member claiming 2^87 bytes (base-256)', file, bytes: wrap(concat(tarHeader('data_batch_1.bin', huge), new Uint8Array(512), end)) },
    { label: 'a malformed octal size', file, bytes: wrap(concat(tarHeader('data_batch_1.bin', octal), new Uint8Array(512), end)) },
    { label: 'a GNU long name that claims more than the archive', file, bytes: wrap(concat(tarHeader('././@LongLink', enc.encode('00000100000\0'), 'L'), new Uint8Array(512))) },
    { label: 'a pax header of garbage', file, bytes: wrap(concat(tarHeader('pax', enc.encode('00000000020\0'), 'x'), concat(enc.encode('999999 path=\n'), new Uint8Array(499)), end)) },
    { label: 'a tar without the test batch', file, bytes: wrap(makeTar([...files].filter(([n]) => n !== 'test_batch.bin').map(([name, data]) => ({ name, data })))) },
    { label: 'batch files that disagree', file, bytes: wrap(cifarTar(new Map([...files].map(([n, d], i) => [n, i === 2 ? d.subarray(0, 3000) : d])))) },
  ];
}

// ---------------------------------------------------------------------------------------------
// Mutations of valid seeds.

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One mutation of `seed`: truncation, bit flips, overwritten bytes or 32-bit sizes, spliced or repeated chunks. */
function mutate(seed: Uint8Array, rng: Rng, index: number): { bytes: Uint8Array; label: string } {
  const header = Math.min(seed.length, 1100);
  // In the header region most of the time: that is where the structure is.
  const at = () => (rng.next() < 0.75 || seed.length <= header ? rng.int(Math.max(1, header)) : header + rng.int(seed.length - header));
  switch (rng.int(6)) {
    case 0: {
      // Truncation: every length of the header region in turn (case by case), then anywhere.
      const len = index < header ? index % (header + 1) : rng.next() < 0.5 ? seed.length - 1 - rng.int(Math.min(64, seed.length)) : rng.int(seed.length);
      return { bytes: seed.slice(0, Math.max(0, len)), label: `truncated to ${Math.max(0, len)} of ${seed.length} bytes` };
    }
    case 1: {
      const b = seed.slice();
      const n = 1 + rng.int(8);
      for (let k = 0; k < n && b.length; k++) {
        const i = at() % b.length;
        b[i] = b[i]! ^ (1 << rng.int(8));
      }
      return { bytes: b, label: `${n} bit flip(s)` };
    }
    case 2: {
      const b = seed.slice();
      if (!b.length) return { bytes: b, label: 'empty' };
      const i = at() % b.length;
      b[i] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x5b, 0x7b, 0x22, 0x27, 0x28]);
      return { bytes: b, label: `byte ${i} overwritten` };
    }
    case 3: {
      // A declared size: a 32-bit value written at a (4-aligned) header position, either byte order.
      const b = seed.slice();
      if (b.length < 4) return { bytes: b, label: 'too short for a 32-bit overwrite' };
      const i = Math.min(b.length - 4, at() & ~3);
      new DataView(b.buffer).setUint32(i, rng.pick(INTERESTING_U32), rng.next() < 0.5);
      return { bytes: b, label: `32-bit size at ${i} overwritten` };
    }
    case 4: {
      // A chunk repeated or removed.
      const i = at() % Math.max(1, seed.length);
      const n = 1 + rng.int(600);
      return rng.next() < 0.5
        ? { bytes: concat(seed.subarray(0, i), seed.subarray(i, i + n), seed.subarray(i)), label: `${n} bytes at ${i} repeated` }
        : { bytes: concat(seed.subarray(0, i), seed.subarray(i + n)), label: `${n} bytes at ${i} removed` };
    }
    default: {
      // Random bytes inserted or appended.
      const junk = Uint8Array.from({ length: 1 + rng.int(300) }, () => rng.int(256));
      const i = rng.next() < 0.5 ? seed.length : at();
      return { bytes: concat(seed.subarray(0, i), junk, seed.subarray(i)), label: `${junk.length} random bytes at ${i}` };
    }
  }
}

/** The `count` cases for a reader from `seed`: hostile inputs first, then mutations of the seeds. */
export async function* cases(reader: FuzzReader, count: number, seed: number, big = false): AsyncGenerator<FuzzCase> {
  const rng = new Rng(seed ^ hash(reader.id));
  // Plain copies: a Node Buffer's slice() is a view, and a mutation would write into the seed.
  const seeds = reader.seeds().map((s) => new Uint8Array(s));
  let n = 0;
  // Hostile inputs: a fresh set every 40 cases (their random choices differ each time).
  for (let i = 0; n < count; i++) {
    if (i % 40 === 0) {
      for (const c of await reader.hostile(rng, big && i === 0)) {
        if (n >= count) return;
        // The big bombs only once.
        yield c;
        n++;
      }
      continue;
    }
    const s = rng.pick(seeds);
    if (reader.gzip && rng.next() < 0.5) {
      // Inside the gzip: mutate the inflated content, then compress it again.
      const inner = mutate(new Uint8Array(gunzipSync(s)), rng, i);
      yield { label: `inside the gzip: ${inner.label}`, file: reader.file, bytes: gzipSync(inner.bytes) };
    } else {
      const m = mutate(s, rng, i);
      yield { label: m.label, file: reader.file, bytes: m.bytes };
    }
    n++;
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The runner.

export interface FuzzReport {
  reader: string;
  cases: number;
  accepted: number;
  refused: number;
  /** Thrown errors not of the reader's own classes (TypeError, RangeError, …). */
  leaked: { label: string; error: string }[];
  /** Refusals whose message does not contain the file's name. */
  unnamed: { label: string; message: string }[];
  overTime: { label: string; ms: number }[];
  overMemory: { label: string; bytes: number; budget: number }[];
  maxMs: number;
  maxMsLabel: string;
  /** Largest growth of heap + array buffers over one case (sampled around and during it). */
  peakBytes: number;
  peakLabel: string;
  longestMessage: number;
  /** The largest valid input among the seeds (the memory budget is twice it, or twice a case's format maximum). */
  largestValid: number;
}

export interface FuzzOptions {
  cases: number;
  seed?: number;
  /** Per-case time budget (default 5 s). */
  timeBudgetMs?: number;
  /** Include the 1 GiB gzip bombs (the full run); CI uses 16 MiB ones. */
  big?: boolean;
  /** Memory slack for the runtime itself (default 32 MiB), added to 2× the largest valid input. */
  slackBytes?: number;
}

function memoryNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Runs `opts.cases` cases against `reader` and reports what came out. */
export async function fuzzReader(reader: FuzzReader, opts: FuzzOptions): Promise<FuzzReport> {
  const budgetMs = opts.timeBudgetMs ?? 5000;
  const slack = opts.slackBytes ?? 32 << 20;
  const seeds = reader.seeds();
  const largestValid = Math.max(...seeds.map((s) => (reader.gzip ? gunzipSync(s).length : s.length)));
  const report: FuzzReport = { reader: reader.id, cases: 0, accepted: 0, refused: 0, leaked: [], unnamed: [], overTime: [], overMemory: [], maxMs: 0, maxMsLabel: '', peakBytes: 0, peakLabel: '', longestMessage: 0, largestValid };
  const gc = (globalThis as { gc?: () => void }).gc;
  for await (const c of cases(reader, opts.cases, opts.seed ?? 1, opts.big)) {
    if (gc && (report.cases % 200 === 0 || c.formatMax)) gc();
    const before = memoryNow();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, memoryNow())), 5);
    const t0 = performance.now();
    try {
      await reader.read(c.bytes, c.file);
      report.accepted++;
    } catch (e) {
      const err = e as Error;
      if (!reader.errors.some((cls) => err instanceof cls)) report.leaked.push({ label: c.label, error: `${err?.name}: ${String(err?.message).slice(0, 200)}` });
      else {
        report.refused++;
        report.longestMessage = Math.max(report.longestMessage, err.message.length);
        if (!err.message.includes(c.file)) report.unnamed.push({ label: c.label, message: err.message.slice(0, 200) });
      }
    }
    const ms = performance.now() - t0;
    clearInterval(sampler);
    peak = Math.max(peak, memoryNow());
    report.cases++;
    if (ms > report.maxMs) {
      report.maxMs = ms;
      report.maxMsLabel = c.label;
    }
    if (ms > budgetMs) report.overTime.push({ label: c.label, ms });
    const grew = peak - before;
    if (grew > report.peakBytes) {
      report.peakBytes = grew;
      report.peakLabel = c.label;
    }
    const budget = 2 * Math.max(largestValid, c.formatMax ?? 0, c.bytes.length) + slack;
    if (grew > budget) report.overMemory.push({ label: c.label, bytes: grew, budget });
  }
  return report;
}
