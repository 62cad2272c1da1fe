// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): data_batch_1…5.bin and
// test_batch.bin, each 10000 records of 1 label byte + 3072 pixel bytes (channel-planar R, G, B
// planes of 32×32, row-major). Converted to NHWC uint8. Also reads the distributed
// cifar-10-binary.tar.gz directly (gzip, then tar; files under cifar-10-batches-bin/), inflated
// only as far as six batch files and the tar headers can reach (CIFAR_TAR_MAX_BYTES).
import { CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, DatasetError, type Dataset, type DatasetSplits } from './dataset.ts';
import { gunzip, type InflateLimit } from './gzip.ts';
import { checkTarStart, readTar, TAR_BLOCK } from './tar.ts';

export const CIFAR_RECORD_BYTES = 3073;
export const CIFAR_RECORDS_PER_FILE = 10000;
export const CIFAR_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR_TEST_FILE = 'test_batch.bin';
export const CIFAR_FILES = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE];
export const CIFAR_TAR_DIR = 'cifar-10-batches-bin/';
/** One batch file's bytes (10 000 records of 3073 bytes). */
export const CIFAR_FILE_BYTES = CIFAR_RECORD_BYTES * CIFAR_RECORDS_PER_FILE;
/**
 * The most a CIFAR-10 tar may hold: the six batch files plus tar overhead (a header and padding
 * per member, the directory, readme.html and batches.meta.txt, pax headers, the end blocks and
 * the 10 KiB record padding), for which 1 MiB is generous.
 */
export const CIFAR_TAR_MAX_BYTES = CIFAR_FILES.length * CIFAR_FILE_BYTES + (1 << 20);

/** The inflate limit for the CIFAR-10 tarball: CIFAR_TAR_MAX_BYTES, and a tar header first. */
export function cifarTarInflateLimit(file: string): InflateLimit {
  return { maxBytes: CIFAR_TAR_MAX_BYTES, what: 'a CIFAR-10 tar (six batch files of 30 730 000 bytes and the tar headers)', headBytes: TAR_BLOCK, inspect: (head) => checkTarStart(head, file) };
}

export interface CifarOptions {
  /**
   * Records each batch file must hold: 10000 for the real dataset (the default), or 'any' to
   * accept any whole number of records (small files made by tests and tools).
   */
  recordsPerFile?: number | 'any';
}

/** One batch file → NHWC images and labels. Throws a DatasetError naming `file`. */
export function parseCifarBatch(bytes: Uint8Array, file: string, opts: CifarOptions = {}): { images: Uint8Array; labels: Uint8Array; count: number } {
  const want = opts.recordsPerFile ?? CIFAR_RECORDS_PER_FILE;
  if (bytes.length === 0) throw new DatasetError(file, 'the file is empty (expected CIFAR-10 records of 3073 bytes)');
  if (bytes.length % CIFAR_RECORD_BYTES !== 0) {
    throw new DatasetError(file, `${bytes.length} bytes is not a whole number of ${CIFAR_RECORD_BYTES}-byte CIFAR-10 records (truncated?)`);
  }
  const count = bytes.length / CIFAR_RECORD_BYTES;
  if (want !== 'any' && count !== want) {
    throw new DatasetError(file, `${bytes.length} bytes holds ${count} records; a CIFAR-10 batch file has ${want} (${want * CIFAR_RECORD_BYTES} bytes) (truncated?)`);
  }
  const images = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const src = r * CIFAR_RECORD_BYTES;
    const label = bytes[src]!;
    if (label > 9) throw new DatasetError(file, `record ${r} has label ${label}; CIFAR-10 labels are 0…9 (not a CIFAR-10 binary file?)`);
    labels[r] = label;
    const dst = r * 3072;
    for (let p = 0; p < 1024; p++) {
      images[dst + 3 * p] = bytes[src + 1 + p]!;
      images[dst + 3 * p + 1] = bytes[src + 1 + 1024 + p]!;
      images[dst + 3 * p + 2] = bytes[src + 1 + 2048 + p]!;
    }
  }
  return { images, labels, count };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function cifarDataset(split: 'train' | 'test', images: Uint8Array, labels: Uint8Array): Dataset {
  return {
    name: `cifar10/${split}`,
    images,
    labels,
    count: labels.length,
    height: 32,
    width: 32,
    channels: 3,
    classes: [...CIFAR10_CLASSES],
    mean: [...CIFAR10_MEAN],
    std: [...CIFAR10_STD],
  };
}

/**
 * Builds both splits from the six batch files, given by base name. `where` names the directory
 * or archive in the message when files are missing.
 */
export function cifarFromFiles(
  files: ReadonlyMap<string, Uint8Array>,
  where: string,
  opts: CifarOptions = {},
  /** How to name a member file in messages (e.g. with its directory). */
  nameOf: (file: string) => string = (f) => f,
): DatasetSplits {
  const missing = CIFAR_FILES.filter((f) => !files.has(f));
  if (missing.length) {
    throw new DatasetError(where, `missing CIFAR-10 batch file${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (expected ${CIFAR_FILES.join(', ')})`);
  }
  const train = CIFAR_TRAIN_FILES.map((f) => parseCifarBatch(files.get(f)!, nameOf(f), opts));
  const test = parseCifarBatch(files.get(CIFAR_TEST_FILE)!, nameOf(CIFAR_TEST_FILE), opts);
  return {
    name: 'cifar10',
    train: cifarDataset('train', concat(train.map((t) => t.images)), concat(train.map((t) => t.labels))),
    test: cifarDataset('test', test.images, test.labels),
    source: where,
  };
}

/** Picks the batch files out of a tar listing: under cifar-10-batches-bin/ or at the top level. */
export function cifarFilesFromTar(entries: readonly { name: string; data: Uint8Array }[]): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const e of entries) {
    const name = e.name.replace(/^\.\//, '');
    const base = name.startsWith(CIFAR_TAR_DIR) ? name.slice(CIFAR_TAR_DIR.length) : name;
    if (CIFAR_FILES.includes(base)) files.set(base, e.data);
  }
  return files;
}

/** Reads cifar-10-binary.tar.gz (or an uncompressed .tar) held in memory. */
export async function readCifarTarGz(bytes: Uint8Array, file: string, opts: CifarOptions = {}): Promise<DatasetSplits> {
  const tar = bytes[0] === 0x1f && bytes[1] === 0x8b ? await gunzip(bytes, file, cifarTarInflateLimit(file)) : bytes;
  const entries = readTar(tar, file);
  const files = cifarFilesFromTar(entries);
  // Members are named with the archive: "cifar-10-binary.tar.gz: cifar-10-batches-bin/data_batch_3.bin: …".
  return cifarFromFiles(files, file, opts, (f) => `${file}: ${CIFAR_TAR_DIR}${f}`);
}
