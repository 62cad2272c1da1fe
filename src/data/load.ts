// Finding a dataset among a set of files, the same in Node (a directory, see node-fs.ts) and in
// the browser (URLs, see fetch.ts): CIFAR-10 batch files, the CIFAR-10 tarball, or IDX files.
import { CIFAR_FILES, cifarFromFiles, readCifarTarGz, type CifarOptions } from './cifar.ts';
import { DatasetError, type DatasetSplits } from './dataset.ts';
import { idxRole, readIdxSplits, type IdxPairFiles } from './idx.ts';

/** A flat set of named files: a directory in Node, a list of URLs in the browser. */
export interface FileSource {
  /** Shown in messages: a directory path or a base URL. */
  where: string;
  /** Base names of the regular files available. */
  list(): Promise<string[]>;
  read(name: string): Promise<Uint8Array>;
}

export interface LoadOptions extends CifarOptions {
  /** Dataset name for IDX files ("fashion-mnist", "mnist", …); guessed from `where` when absent. */
  name?: string;
  /** Required IDX image size, e.g. [28, 28]. */
  expectDims?: [number, number];
}

/** The bundled offline sample (public/datasets/), a balanced subset of Fashion-MNIST. */
export const BUNDLED_SAMPLE = {
  name: 'fashion-mnist-sample',
  files: {
    trainImages: 'fashion-mnist-sample-train-images-idx3-ubyte.gz',
    trainLabels: 'fashion-mnist-sample-train-labels-idx1-ubyte.gz',
    testImages: 'fashion-mnist-sample-test-images-idx3-ubyte.gz',
    testLabels: 'fashion-mnist-sample-test-labels-idx1-ubyte.gz',
  },
} as const;

export const CIFAR_TARBALL = 'cifar-10-binary.tar.gz';

const EXPECTED =
  `expected CIFAR-10 (${CIFAR_FILES.join(', ')}), ${CIFAR_TARBALL}, ` +
  'or IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])';

export function describeExpectedFiles(): string {
  return EXPECTED;
}

function baseName(where: string): string {
  return where.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? where;
}

/** Detects what `src` holds and reads both splits. Nothing is kept when any file fails. */
export async function loadFromSource(src: FileSource, opts: LoadOptions = {}): Promise<DatasetSplits> {
  const names = await src.list();
  const dir = src.where.endsWith('/') ? src.where : src.where + '/';
  const full = (f: string) => dir + f;
  if (names.length === 0) throw new DatasetError(src.where, `no files here (${EXPECTED})`);

  // 1. CIFAR-10 batch files (any of them present means the rest must be too).
  const cifarPresent = names.filter((n) => CIFAR_FILES.includes(n));
  if (cifarPresent.length > 0) {
    const files = new Map<string, Uint8Array>();
    for (const f of CIFAR_FILES) if (names.includes(f)) files.set(f, await src.read(f));
    return cifarFromFiles(files, src.where, opts, full);
  }

  // 2. The CIFAR-10 tarball (or any .tar.gz / .tgz / .tar, which must then hold the batch files).
  const tars = names.filter((n) => /\.(tar\.gz|tgz|tar)$/i.test(n));
  if (tars.length > 0) {
    const pick = tars.includes(CIFAR_TARBALL) ? CIFAR_TARBALL : tars.length === 1 ? tars[0]! : null;
    if (!pick) throw new DatasetError(src.where, `several archives (${tars.join(', ')}); which one? Pass the archive's path instead`);
    return readCifarTarGz(await src.read(pick), full(pick), opts);
  }

  // 3. IDX files.
  const roles = new Map<string, string[]>();
  for (const n of names) {
    const r = idxRole(n);
    if (!r) continue;
    const key = `${r.split}-${r.kind}`;
    roles.set(key, [...(roles.get(key) ?? []), n]);
  }
  if (roles.size > 0) {
    const one = async (split: 'train' | 'test', kind: 'images' | 'labels') => {
      const found = roles.get(`${split}-${kind}`) ?? [];
      if (found.length === 0) throw new DatasetError(src.where, `IDX ${split} ${kind} file is missing (found ${[...roles.values()].flat().join(', ')}; ${EXPECTED})`);
      if (found.length > 1) throw new DatasetError(src.where, `several IDX ${split} ${kind} files (${found.join(', ')}); keep one`);
      return { name: full(found[0]!), bytes: await src.read(found[0]!) };
    };
    const train: IdxPairFiles = { images: await one('train', 'images'), labels: await one('train', 'labels') };
    const test: IdxPairFiles = { images: await one('test', 'images'), labels: await one('test', 'labels') };
    const name = opts.name ?? guessIdxName(src.where, names);
    return readIdxSplits(train, test, name, src.where, opts.expectDims);
  }
  throw new DatasetError(src.where, `no dataset files found among ${names.length} file${names.length > 1 ? 's' : ''} (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}); ${EXPECTED}`);
}

function guessIdxName(where: string, names: string[]): string {
  if (names.some((n) => n.startsWith(BUNDLED_SAMPLE.name))) return BUNDLED_SAMPLE.name;
  const dir = baseName(where).toLowerCase();
  if (/fashion/.test(dir)) return 'fashion-mnist';
  if (/mnist/.test(dir)) return 'mnist';
  return dir || 'idx';
}

/** Reads a single file the user picked: the CIFAR-10 tarball (the UI's file input). */
export async function loadFromArchive(bytes: Uint8Array, fileName: string, opts: CifarOptions = {}): Promise<DatasetSplits> {
  if (!/\.(tar\.gz|tgz|tar)$/i.test(fileName)) throw new DatasetError(fileName, `not an archive (${EXPECTED})`);
  return readCifarTarGz(bytes, fileName, opts);
}
