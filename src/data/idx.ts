// IDX files (MNIST, Fashion-MNIST): a big-endian header — magic 0x00000803 for N×H×W uint8
// images, 0x00000801 for N uint8 labels — then the data. Accepted gzipped or raw; a gzipped
// file is inflated only as far as its header's dimensions allow (see idxInflateLimit).
import { DatasetError, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_CLASSES, channelStats, type Dataset, type DatasetSplits } from './dataset.ts';
import { maybeGunzip, type InflateLimit } from './gzip.ts';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

const hex = (n: number) => '0x' + (n >>> 0).toString(16).padStart(8, '0');

function readU32BE(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** The largest IDX file read (1 GiB: EMNIST's biggest split is 0.55 GB); a header claiming more is refused. */
export const IDX_MAX_BYTES = 1 << 30;

function checkImagesMagic(bytes: Uint8Array, file: string): void {
  // The magic number first (a labels file is often shorter than an images header).
  const magic = bytes.length >= 4 ? readU32BE(bytes, 0) : -1;
  if (bytes.length >= 4 && magic !== IDX_IMAGES_MAGIC) {
    const what = magic === IDX_LABELS_MAGIC ? ' (that is a labels file)' : '';
    throw new DatasetError(file, `wrong magic number ${hex(magic)}${what}; expected ${hex(IDX_IMAGES_MAGIC)} (IDX uint8 images, 3 dimensions)`);
  }
}

function checkLabelsMagic(bytes: Uint8Array, file: string): void {
  const magic = bytes.length >= 4 ? readU32BE(bytes, 0) : -1;
  if (bytes.length >= 4 && magic !== IDX_LABELS_MAGIC) {
    const what = magic === IDX_IMAGES_MAGIC ? ' (that is an images file)' : '';
    throw new DatasetError(file, `wrong magic number ${hex(magic)}${what}; expected ${hex(IDX_LABELS_MAGIC)} (IDX uint8 labels, 1 dimension)`);
  }
}

/**
 * How far a gzipped IDX file may inflate: refused at a wrong magic number as soon as 4 bytes are
 * out, then limited to exactly what the header's dimensions describe (at most IDX_MAX_BYTES).
 */
export function idxInflateLimit(kind: 'images' | 'labels', file: string): InflateLimit {
  const headerBytes = kind === 'images' ? 16 : 8;
  return {
    maxBytes: IDX_MAX_BYTES,
    what: `an IDX ${kind} file`,
    headBytes: headerBytes,
    inspect: (head) => {
      (kind === 'images' ? checkImagesMagic : checkLabelsMagic)(head, file);
      if (head.length < headerBytes) return;
      const need = kind === 'images' ? headerBytes + readU32BE(head, 4) * readU32BE(head, 8) * readU32BE(head, 12) : headerBytes + readU32BE(head, 4);
      if (need > IDX_MAX_BYTES) {
        const dims = kind === 'images' ? `${readU32BE(head, 4)}×${readU32BE(head, 8)}×${readU32BE(head, 12)} images` : `${readU32BE(head, 4)} labels`;
        throw new DatasetError(file, `the header's ${dims} need ${need} bytes, over the ${IDX_MAX_BYTES}-byte limit for IDX files (damaged header?)`);
      }
      return need;
    },
  };
}

/** Parses an (already decompressed) IDX images file: N×H×W uint8. */
export function parseIdxImages(bytes: Uint8Array, file: string): { images: Uint8Array; count: number; height: number; width: number } {
  checkImagesMagic(bytes, file);
  if (bytes.length < 16) throw new DatasetError(file, `${bytes.length} bytes is too short for an IDX images header (16 bytes)`);
  const count = readU32BE(bytes, 4);
  const height = readU32BE(bytes, 8);
  const width = readU32BE(bytes, 12);
  if (count === 0 || height === 0 || width === 0) throw new DatasetError(file, `dimensions ${count}×${height}×${width} must all be positive`);
  const need = 16 + count * height * width;
  if (bytes.length !== need) {
    throw new DatasetError(file, `${bytes.length} bytes, but the header's ${count}×${height}×${width} images need ${need} (${bytes.length < need ? 'truncated?' : 'trailing data'})`);
  }
  return { images: bytes.slice(16), count, height, width };
}

/** Parses an (already decompressed) IDX labels file: N uint8. */
export function parseIdxLabels(bytes: Uint8Array, file: string): Uint8Array {
  checkLabelsMagic(bytes, file);
  if (bytes.length < 8) throw new DatasetError(file, `${bytes.length} bytes is too short for an IDX labels header (8 bytes)`);
  const count = readU32BE(bytes, 4);
  if (count === 0) throw new DatasetError(file, 'the header says 0 labels');
  if (bytes.length !== 8 + count) {
    throw new DatasetError(file, `${bytes.length} bytes, but the header's ${count} labels need ${8 + count} (${bytes.length < 8 + count ? 'truncated?' : 'trailing data'})`);
  }
  return bytes.slice(8);
}

export interface IdxPairFiles {
  images: { name: string; bytes: Uint8Array };
  labels: { name: string; bytes: Uint8Array };
}

export interface IdxSplitOptions {
  /** Dataset name: "fashion-mnist", "mnist", … (sets classes and mean/std when known). */
  name: string;
  split: 'train' | 'test';
  classes?: string[];
  /** Required image size, e.g. [28, 28] for (Fashion-)MNIST; any size when absent. */
  expectDims?: [number, number];
  mean?: number[];
  std?: number[];
}

export function knownIdxClasses(name: string): string[] {
  return /fashion/i.test(name) ? [...FASHION_MNIST_CLASSES] : [...MNIST_CLASSES];
}

/** Reads one split from an images file and a labels file (each .gz or raw). */
export async function readIdxSplit(files: IdxPairFiles, opts: IdxSplitOptions): Promise<Dataset> {
  const imgRaw = await maybeGunzip(files.images.bytes, files.images.name, idxInflateLimit('images', files.images.name));
  const lblRaw = await maybeGunzip(files.labels.bytes, files.labels.name, idxInflateLimit('labels', files.labels.name));
  const { images, count, height, width } = parseIdxImages(imgRaw, files.images.name);
  const labels = parseIdxLabels(lblRaw, files.labels.name);
  if (opts.expectDims && (height !== opts.expectDims[0] || width !== opts.expectDims[1])) {
    throw new DatasetError(files.images.name, `images are ${height}×${width}; ${opts.name} images are ${opts.expectDims[0]}×${opts.expectDims[1]} (wrong file?)`);
  }
  if (labels.length !== count) {
    throw new DatasetError(files.labels.name, `${labels.length} labels, but ${files.images.name} has ${count} images (the two files must match)`);
  }
  const classes = opts.classes ?? knownIdxClasses(opts.name);
  for (let i = 0; i < count; i++) {
    if (labels[i]! >= classes.length) throw new DatasetError(files.labels.name, `label ${labels[i]} at index ${i} is not below the ${classes.length} classes`);
  }
  const stats = opts.mean && opts.std ? { mean: opts.mean, std: opts.std } : channelStats(images, 1);
  return { name: `${opts.name}/${opts.split}`, images, labels, count, height, width, channels: 1, classes, mean: [...stats.mean], std: [...stats.std] };
}

/** Both splits; train and test must have the same image size. */
export async function readIdxSplits(train: IdxPairFiles, test: IdxPairFiles, name: string, source: string, expectDims?: [number, number]): Promise<DatasetSplits> {
  const fashion = /fashion/i.test(name);
  const known = fashion ? { mean: [...FASHION_MNIST_MEAN], std: [...FASHION_MNIST_STD] } : {};
  const tr = await readIdxSplit(train, { name, split: 'train', expectDims, ...known });
  // Unknown datasets are normalised with their training-set statistics, on both splits.
  const te = await readIdxSplit(test, { name, split: 'test', expectDims, mean: tr.mean, std: tr.std });
  if (te.height !== tr.height || te.width !== tr.width) {
    throw new DatasetError(test.images.name, `test images are ${te.height}×${te.width} but ${train.images.name} are ${tr.height}×${tr.width}`);
  }
  return { name, train: tr, test: te, source };
}

/** Which role an IDX file name plays, by the usual names (train-images-idx3-ubyte.gz, t10k-…). */
export function idxRole(fileName: string): { split: 'train' | 'test'; kind: 'images' | 'labels' } | null {
  const n = fileName.toLowerCase();
  const kind = /images?[-_.]idx3|idx3[-_.]ubyte/.test(n) && /image/.test(n) ? 'images' : /labels?[-_.]idx1|idx1[-_.]ubyte/.test(n) && /label/.test(n) ? 'labels' : null;
  if (!kind) return null;
  if (/(^|[-_.])(t10k|test)([-_.]|$)/.test(n)) return { split: 'test', kind };
  if (/(^|[-_.])train([-_.]|$)/.test(n)) return { split: 'train', kind };
  return null;
}
