// Generators of the dataset formats, byte for byte as the real tools write them (tar cf, the
// CIFAR-10 binary batches, IDX): shared by the reader tests and the fuzz suite's seeds.
import { CIFAR_FILES } from '../../src/data/cifar.ts';

/** A CIFAR-10 batch file of `n` records; pixel (c, p) of record r is (r·7 + c·50 + p) mod 256. */
export function cifarBatch(n: number, fileIndex: number): Uint8Array {
  const b = new Uint8Array(n * 3073);
  for (let r = 0; r < n; r++) {
    b[r * 3073] = (r + fileIndex * 3) % 10;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) b[r * 3073 + 1 + c * 1024 + p] = (r * 7 + fileIndex * 13 + c * 50 + p) % 256;
  }
  return b;
}

export function cifarFiles(n = 3): Map<string, Uint8Array> {
  return new Map(CIFAR_FILES.map((f, i) => [f, cifarBatch(n, i)]));
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar archive (as `tar cf`): a directory entry, then the files, then two zero blocks. */
export function makeTar(entries: { name: string; data?: Uint8Array; type?: string }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const e of entries) {
    const h = new Uint8Array(512);
    const data = e.data ?? new Uint8Array(0);
    h.set(enc.encode(e.name), 0);
    h.set(enc.encode(octal(0o644, 8)), 100);
    h.set(enc.encode(octal(1000, 8)), 108);
    h.set(enc.encode(octal(1000, 8)), 116);
    h.set(enc.encode(octal(data.length, 12)), 124);
    h.set(enc.encode(octal(1262304000, 12)), 136);
    h.set(enc.encode('        '), 148);
    h[156] = (e.type ?? '0').charCodeAt(0);
    h.set(enc.encode('ustar\0'), 257);
    h.set(enc.encode('00'), 263);
    let sum = 0;
    for (const v of h) sum += v;
    h.set(enc.encode(octal(sum, 7) + ' '), 148);
    blocks.push(h);
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

export function cifarTar(files: Map<string, Uint8Array>, prefix = 'cifar-10-batches-bin/'): Uint8Array {
  return makeTar([
    { name: prefix, type: '5' },
    { name: `${prefix}batches.meta.txt`, data: new TextEncoder().encode('airplane\nautomobile\n') },
    ...[...files].map(([name, data]) => ({ name: prefix + name, data })),
  ]);
}

export function idxImages(n: number, h: number, w: number, magic = 0x803): Uint8Array {
  const b = new Uint8Array(16 + n * h * w);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, magic);
  dv.setUint32(4, n);
  dv.setUint32(8, h);
  dv.setUint32(12, w);
  for (let i = 0; i < n * h * w; i++) b[16 + i] = (i * 31) % 256;
  return b;
}

export function idxLabels(n: number, magic = 0x801): Uint8Array {
  const b = new Uint8Array(8 + n);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, magic);
  dv.setUint32(4, n);
  for (let i = 0; i < n; i++) b[8 + i] = i % 10;
  return b;
}

