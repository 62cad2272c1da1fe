// Reading datasets in the engine worker, with progress: the bundled sample and anything else
// served under /datasets/ (fetched), or the files a user dropped or picked (File objects sent
// from the page). Detection and parsing are src/data's (loadFromSource): CIFAR-10's .tar.gz or
// its six .bin files, or IDX files. Every failure is a DatasetError naming the file; nothing
// is kept from a failed load.
import { BUNDLED_SAMPLE, CIFAR_TARBALL, DatasetError, fetchDataFile, loadFromArchive, loadFromSource, type DatasetSplits, type FileSource } from '../data/index.ts';
import type { DatasetInfo, DatasetPhase, DatasetSource } from './protocol.ts';

export type Progress = (phase: DatasetPhase, file: string, loaded: number, total: number) => void;

/** Files under /datasets/ the page may find besides the bundled sample. */
export const SERVED_CANDIDATES = [CIFAR_TARBALL];

/** The /datasets/ folder of the app (Vite's BASE_URL, resolved against the worker's origin). */
export function datasetsBase(): string {
  const base = (import.meta.env?.BASE_URL as string | undefined) ?? '/';
  return new URL(`${base.replace(/\/?$/, '/')}datasets/`, self.location.origin).href;
}

async function readStream(body: ReadableStream<Uint8Array>, total: number, file: string, progress: Progress): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    const now = performance.now();
    if (now - last > 100) {
      last = now;
      progress('reading', file, loaded, total);
    }
  }
  progress('reading', file, loaded, Math.max(total, loaded));
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Gzips bytes again (CompressionStream). */
async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A FileSource over URLs with progress. Vite's dev/preview servers send `.gz` files with
 * `Content-Encoding: gzip`, so the browser hands over the bytes already decompressed; the IDX
 * reader expects a `.gz` name to hold gzip, so such bytes are compressed again (small files).
 */
function urlSourceWithProgress(base: string, names: readonly string[], progress: Progress): FileSource {
  return {
    where: base,
    list: async () => [...names],
    read: async (name) => {
      const res = await fetchDataFile(base + name);
      const encoded = (res.headers.get('content-encoding') ?? '') !== '';
      // With a content encoding, Content-Length counts the encoded bytes: no total then.
      const total = encoded ? 0 : Number(res.headers.get('content-length') ?? 0);
      const bytes = res.body ? await readStream(res.body, total, name, progress) : new Uint8Array(await res.arrayBuffer());
      if (/\.gz$/i.test(name) && !/\.tar\.gz$/i.test(name) && !(bytes[0] === 0x1f && bytes[1] === 0x8b)) return gzip(bytes);
      return bytes;
    },
  };
}

function fileSource(files: File[], progress: Progress): FileSource {
  const byName = new Map(files.map((f) => [f.name, f]));
  const total = files.reduce((n, f) => n + f.size, 0);
  let before = 0;
  return {
    // loadFromSource names a file `${where}/${name}` in its messages.
    where: 'dropped files',
    list: async () => [...byName.keys()],
    read: async (name) => {
      const f = byName.get(name);
      if (!f) throw new DatasetError(name, 'was not among the dropped files');
      const start = before;
      before += f.size;
      const bytes = await readStream(f.stream(), f.size, name, (phase, file, loaded) => progress(phase, file, start + loaded, total));
      return bytes;
    },
  };
}

/** Which SERVED_CANDIDATES exist (HEAD requests; an HTML answer means "no"). */
export async function probeServed(): Promise<string[]> {
  const base = datasetsBase();
  const found: string[] = [];
  for (const name of SERVED_CANDIDATES) {
    try {
      const res = await fetch(base + name, { method: 'HEAD' });
      const type = res.headers.get('content-type') ?? '';
      const size = Number(res.headers.get('content-length') ?? 0);
      if (res.ok && !type.includes('text/html') && size > 1_000_000) found.push(name);
    } catch {
      // not served
    }
  }
  return found;
}

export async function loadDatasetSource(source: DatasetSource, progress: Progress): Promise<DatasetSplits> {
  let splits: DatasetSplits;
  if (source.kind === 'bundled') {
    const src = urlSourceWithProgress(datasetsBase(), Object.values(BUNDLED_SAMPLE.files), progress);
    progress('reading', BUNDLED_SAMPLE.name, 0, 1);
    splits = await loadFromSource(src, { name: BUNDLED_SAMPLE.name, expectDims: [28, 28] });
  } else if (source.kind === 'served') {
    if (!SERVED_CANDIDATES.includes(source.file)) throw new DatasetError(source.file, `not a dataset the page knows how to fetch (${SERVED_CANDIDATES.join(', ')})`);
    splits = await loadFromSource(urlSourceWithProgress(datasetsBase(), [source.file], progress));
  } else {
    const files = source.files;
    if (files.length === 0) throw new DatasetError('(no file)', 'nothing was dropped');
    if (files.length === 1 && /\.(tar\.gz|tgz|tar)$/i.test(files[0]!.name)) {
      // One archive: errors name it as the user knows it.
      const f = files[0]!;
      const bytes = await readStream(f.stream(), f.size, f.name, progress);
      progress('decoding', f.name, 1, 1);
      splits = await loadFromArchive(bytes, f.name);
    } else splits = await loadFromSource(fileSource(files, progress));
  }
  progress('decoding', splits.name, 1, 1);
  return splits;
}

export function datasetInfo(d: DatasetSplits): DatasetInfo {
  return {
    name: d.name,
    source: d.source,
    trainCount: d.train.count,
    testCount: d.test.count,
    height: d.train.height,
    width: d.train.width,
    channels: d.train.channels,
    classes: d.train.classes,
  };
}

/** The configuration's `dataset` value for a loaded dataset. */
export function datasetKey(d: { name: string }): string {
  if (d.name === BUNDLED_SAMPLE.name) return 'bundled';
  if (d.name === 'cifar10') return 'cifar10';
  return d.name;
}
