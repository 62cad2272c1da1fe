// Browser (and worker) access to datasets served over HTTP, e.g. the bundled sample under
// /datasets/ from public/datasets/. Uses only fetch(), so it also runs in Node against a server.
import { DatasetError, type DatasetSplits } from './dataset.ts';
import { BUNDLED_SAMPLE, CIFAR_TARBALL, loadFromSource, type FileSource, type LoadOptions } from './load.ts';

/**
 * Fetches `url` and checks the answer: errors name the URL. Dev servers (Vite's) answer a missing
 * file with index.html (200, text/html), which counts as missing too.
 */
export async function fetchDataFile(url: string, fetchImpl: typeof fetch = fetch): Promise<Response> {
  let res: Response;
  try {
    res = await fetchImpl(url);
  } catch (e) {
    throw new DatasetError(url, `could not fetch (${(e as Error).message})`);
  }
  if (!res.ok) throw new DatasetError(url, `HTTP ${res.status} ${res.statusText}`.trim());
  if ((res.headers.get('content-type') ?? '').includes('text/html')) throw new DatasetError(url, 'not found on the server (it answered with a web page)');
  return res;
}

/** A FileSource over `baseUrl` + name, for a known list of names. */
export function urlSource(baseUrl: string, names: readonly string[], fetchImpl: typeof fetch = fetch): FileSource {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  return {
    where: base,
    list: async () => [...names],
    read: async (name) => new Uint8Array(await (await fetchDataFile(base + name, fetchImpl)).arrayBuffer()),
  };
}

/** The bundled Fashion-MNIST sample, served from `baseUrl` (default "/datasets/"). */
export function fetchBundledSample(baseUrl = '/datasets/', fetchImpl?: typeof fetch): Promise<DatasetSplits> {
  return loadFromSource(urlSource(baseUrl, Object.values(BUNDLED_SAMPLE.files), fetchImpl), { name: BUNDLED_SAMPLE.name, expectDims: [28, 28] });
}

/** CIFAR-10 from the tarball served at `baseUrl` (after `npm run datasets -- cifar10`). */
export function fetchCifar10(baseUrl = '/datasets/', opts: LoadOptions = {}, fetchImpl?: typeof fetch): Promise<DatasetSplits> {
  return loadFromSource(urlSource(baseUrl, [CIFAR_TARBALL], fetchImpl), opts);
}
