// Node-only dataset access (the CLI and tests): directories and files on disk. The browser
// uses fetch.ts instead; both go through the same parsers (load.ts).
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIFAR_FILES } from './cifar.ts';
import { DatasetError, type DatasetSplits } from './dataset.ts';
import { idxRole } from './idx.ts';
import { BUNDLED_SAMPLE, CIFAR_TARBALL, loadFromArchive, loadFromSource, type FileSource, type LoadOptions } from './load.ts';

/** `bundled`, `fashion-mnist`, `cifar10`, or a path to a directory or to the CIFAR-10 tarball. */
export type DatasetSpec = 'bundled' | 'fashion-mnist' | 'cifar10' | (string & {});

export const DATASET_SPECS = ['bundled', 'fashion-mnist', 'cifar10'] as const;

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const SYSTEM_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface NodeLoadOptions extends LoadOptions {
  /** public/datasets of this checkout unless given. */
  datasetsDir?: string;
  /** Where to look for Fashion-MNIST (default /usr/share/datasets/fashion-mnist). */
  fashionMnistDir?: string;
}

/** public/datasets of this checkout (found from this file, else from the working directory). */
export function defaultDatasetsDir(): string {
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    const dir = resolve(here, '../../public/datasets');
    if (existsSync(dir)) return dir;
  } catch {
    /* not a file: URL (bundled); fall through */
  }
  return resolve(process.cwd(), 'public/datasets');
}

/** A FileSource over the regular files of a directory (optionally only `only`). */
export function dirSource(dir: string, only?: readonly string[]): FileSource {
  return {
    where: dir,
    list: async () => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        throw new DatasetError(dir, `cannot list the directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const files = entries.filter((e) => e.isFile() || (e.isSymbolicLink() && isFile(join(dir, e.name)))).map((e) => e.name);
      return (only ? files.filter((f) => only.includes(f)) : files).sort();
    },
    read: async (name) => readBytes(join(dir, name)),
  };
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new DatasetError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Reads a dataset directory or archive from disk (auto-detecting what is inside). */
export async function loadDatasetPath(path: string, opts: NodeLoadOptions = {}): Promise<DatasetSplits> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new DatasetError(path, 'no such file or directory');
  }
  if (st.isFile()) return loadFromArchive(await readBytes(path), path, opts);
  if (!st.isDirectory()) throw new DatasetError(path, 'not a file or a directory');
  // The tarball's unpacked layout (<dir>/cifar-10-batches-bin/): descend when nothing else is here.
  const sub = join(path, 'cifar-10-batches-bin');
  const top = await dirSource(path).list();
  const datasetFile = (n: string) => CIFAR_FILES.includes(n) || /\.(tar\.gz|tgz|tar)$/i.test(n) || idxRole(n) !== null;
  if (!top.some(datasetFile) && existsSync(sub)) return loadFromSource(dirSource(sub), opts);
  return loadFromSource(dirSource(path), opts);
}

/**
 * Loads a dataset for Node (CLI, tests):
 * - `bundled`: the Fashion-MNIST sample in public/datasets/ (committed; works offline);
 * - `fashion-mnist`: /usr/share/datasets/fashion-mnist (Debian package `dataset-fashion-mnist`);
 * - `cifar10`: public/datasets/cifar-10-batches-bin/ or public/datasets/cifar-10-binary.tar.gz
 *   (`npm run datasets -- cifar10` downloads the latter);
 * - anything else: a directory (CIFAR-10 batch files, the tarball, or IDX files) or the tarball.
 */
export async function loadDataset(spec: DatasetSpec, opts: NodeLoadOptions = {}): Promise<DatasetSplits> {
  const datasets = opts.datasetsDir ?? defaultDatasetsDir();
  if (spec === 'bundled') {
    const names = Object.values(BUNDLED_SAMPLE.files);
    const missing = names.filter((n) => !existsSync(join(datasets, n)));
    if (missing.length) {
      throw new DatasetError(datasets, `the bundled sample is missing (${missing.join(', ')}); regenerate it with \`node scripts/make-bundled-sample.mjs\``);
    }
    return loadFromSource(dirSource(datasets, names), { ...opts, name: BUNDLED_SAMPLE.name, expectDims: [28, 28] });
  }
  if (spec === 'fashion-mnist') {
    const dir = opts.fashionMnistDir ?? SYSTEM_FASHION_MNIST_DIR;
    if (!existsSync(dir)) {
      throw new DatasetError(dir, 'Fashion-MNIST is not installed here; install it with `sudo apt-get install dataset-fashion-mnist` (Debian), or pass the directory holding its IDX files as the dataset');
    }
    return loadFromSource(dirSource(dir), { ...opts, name: 'fashion-mnist', expectDims: [28, 28] });
  }
  if (spec === 'cifar10') {
    const dir = join(datasets, 'cifar-10-batches-bin');
    const tar = join(datasets, CIFAR_TARBALL);
    if (existsSync(dir)) return loadFromSource(dirSource(dir), opts);
    if (existsSync(tar)) return loadFromArchive(await readBytes(tar), tar, opts);
    throw new DatasetError(datasets, `CIFAR-10 is not here (looked for ${basename(dir)}/ and ${CIFAR_TARBALL}); fetch it with \`npm run datasets -- cifar10\``);
  }
  return loadDatasetPath(spec, opts);
}
