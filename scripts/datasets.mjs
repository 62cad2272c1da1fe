#!/usr/bin/env node
// `npm run datasets -- <name>`: fetches a dataset into public/datasets/ and checks it.
//
//   npm run datasets -- cifar10              download cifar-10-binary.tar.gz, check size and md5
//   npm run datasets -- cifar10 --file <p>   check (and copy in) a tarball you downloaded yourself
//   npm run datasets -- verify               check what is already in public/datasets/
//   npm run datasets -- fashion-mnist        say where Fashion-MNIST comes from (apt-get)
//
// The download goes to a .part file that is renamed only after the size and md5 checks pass, so
// a failed or interrupted download never leaves a file that looks complete. It times out only on
// inactivity (no byte for 30 s), not on the whole body, so a slow link finishes; an interrupted
// download is resumed with an HTTP Range request from the .part file's length (a few times
// within one run, and again on the next run); progress is printed every few seconds.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync, unlinkSync, copyFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

export const CIFAR10 = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  file: 'cifar-10-binary.tar.gz',
  bytes: 170052171,
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
};

const here = dirname(fileURLToPath(import.meta.url));
export const DATASETS_DIR = resolve(here, '..', 'public', 'datasets');

export class DatasetsError extends Error {}

export async function md5File(path) {
  const h = createHash('md5');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** Checks a downloaded file against `expected` ({ bytes, md5 }); throws a DatasetsError saying what differs. Returns its md5. */
export async function verifyFile(path, expected = CIFAR10, what = 'the CIFAR-10 binary tarball') {
  if (!existsSync(path)) throw new DatasetsError(`${path}: not found`);
  const size = statSync(path).size;
  const md5 = await md5File(path);
  if (md5 !== expected.md5) {
    throw new DatasetsError(
      `${path}: ${size} bytes with md5 ${md5}; expected ${expected.bytes} bytes with md5 ${expected.md5} ` +
        `(${size < expected.bytes ? 'truncated download?' : `not ${what}?`}). Delete it and download it again.`,
    );
  }
  if (size !== expected.bytes) console.warn(`note: md5 matches but the size is ${size}, not ${expected.bytes}`);
  return md5;
}

/** Checks a CIFAR-10 tarball; throws a DatasetsError saying what differs. Returns its md5. */
export function verifyCifar10(path) {
  return verifyFile(path, CIFAR10);
}

const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

function sizeOf(path) {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * One request for `url` into `part`, from its current length (HTTP Range) when it has one. Aborts
 * when no byte arrives for `idleMs`. Returns the bytes now in `part`; throws a DatasetsError.
 */
async function fetchInto(url, part, { idleMs, total, log, fetchImpl }) {
  const have = sizeOf(part);
  const controller = new AbortController();
  let idle = false;
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      controller.abort();
    }, idleMs);
  };
  arm();
  const headers = have > 0 ? { range: `bytes=${have}-` } : {};
  let res;
  try {
    res = await fetchImpl(url, { headers, signal: controller.signal });
  } catch (e) {
    clearTimeout(timer);
    const cause = idle ? `no answer for ${idleMs / 1000} s` : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e));
    throw new DatasetsError(`could not download ${url} (${cause})`);
  }
  if (res.status === 416 && have > 0) {
    // The .part is already as long as the file (or longer: stale); the checks decide.
    clearTimeout(timer);
    await res.body?.cancel();
    return have;
  }
  if (!(res.status === 200 || res.status === 206) || !res.body) {
    clearTimeout(timer);
    throw new DatasetsError(`could not download ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  // 206: the server resumes where the .part ends (checked); 200: it sends everything, start over.
  let start = 0;
  if (res.status === 206) {
    const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    start = range ? Number(range[1]) : -1;
    if (start !== have) {
      clearTimeout(timer);
      await res.body.cancel();
      unlinkSync(part);
      throw new DatasetsError(`${url}: the server resumed at byte ${start}, not at ${have}; the partial download was removed`);
    }
    log(`  resuming at ${mib(have)}`);
  }
  const out = createWriteStream(part, { flags: start > 0 ? 'a' : 'w' });
  let got = start;
  let lastLog = performance.now();
  let lastGot = got;
  try {
    for await (const chunk of res.body) {
      arm();
      got += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
      const now = performance.now();
      if (now - lastLog > 2000) {
        const rate = (got - lastGot) / ((now - lastLog) / 1000);
        log(`  ${total ? `${Math.floor((100 * got) / total)}% ` : ''}${mib(got)}${total ? ` of ${mib(total)}` : ''} (${mib(rate)}/s)`);
        lastLog = now;
        lastGot = got;
      }
    }
  } catch (e) {
    const why = idle ? `no data for ${idleMs / 1000} s` : (e?.cause?.code ?? e?.message ?? String(e));
    throw new DatasetsError(`download of ${url} stopped after ${mib(got)} (${why})`);
  } finally {
    clearTimeout(timer);
    out.end();
    await once(out, 'close');
  }
  return got;
}

/**
 * Downloads `url` to `dest + '.part'`, resuming what a .part file already holds, retrying
 * `retries` times (each resuming) when the connection stalls or breaks. Returns the .part path;
 * on failure the .part is kept and the message says to run the command again to resume.
 */
export async function download(url, dest, { idleMs = 30_000, retries = 3, expectedBytes = 0, log = (m) => process.stderr.write(m + '\n'), fetchImpl = fetch } = {}) {
  const part = dest + '.part';
  let last;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const got = await fetchInto(url, part, { idleMs, total: expectedBytes, log, fetchImpl });
      if (!expectedBytes || got >= expectedBytes) return part;
      last = new DatasetsError(`download of ${url} ended after ${mib(got)} of ${mib(expectedBytes)}`);
    } catch (e) {
      if (!(e instanceof DatasetsError)) throw e;
      last = e;
    }
    if (attempt < retries) log(`  ${last.message}; retrying (${attempt + 1} of ${retries})`);
  }
  const kept = sizeOf(part);
  throw new DatasetsError(`${last.message}. ${kept ? `The ${mib(kept)} so far are kept in ${part}; run the command again to resume.` : 'Run the command again.'} Offline? Download it by hand and run \`npm run datasets -- cifar10 --file <path>\`.`);
}

/** Downloads (or resumes) and checks a file: `expected` is { url, file, bytes, md5 }. */
export async function fetchChecked(expected, { dir = DATASETS_DIR, ...opts } = {}) {
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, expected.file);
  const part = await download(expected.url, dest, { expectedBytes: expected.bytes, ...opts });
  try {
    await verifyFile(part, expected, expected.file);
  } catch (e) {
    // A complete file with the wrong md5 cannot be resumed into a right one.
    unlinkSync(part);
    throw e;
  }
  renameSync(part, dest);
  return dest;
}

export async function cifar10({ file, dir = DATASETS_DIR, ...opts } = {}) {
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, CIFAR10.file);
  if (file) {
    await verifyCifar10(file);
    if (resolve(file) !== resolve(dest)) copyFileSync(file, dest);
    console.log(`ok: ${dest} (md5 ${CIFAR10.md5})`);
    return dest;
  }
  if (existsSync(dest)) {
    await verifyCifar10(dest);
    console.log(`already here and verified: ${dest}`);
    return dest;
  }
  const partial = sizeOf(dest + '.part');
  console.log(`downloading ${CIFAR10.url} (${(CIFAR10.bytes / 1048576).toFixed(0)} MiB${partial ? `, ${mib(partial)} already in ${CIFAR10.file}.part` : ''}) …`);
  await fetchChecked(CIFAR10, { dir, ...opts });
  console.log(`ok: ${dest} (${CIFAR10.bytes} bytes, md5 ${CIFAR10.md5})`);
  return dest;
}

const USAGE = `usage: npm run datasets -- cifar10 [--file <cifar-10-binary.tar.gz>] | verify | fashion-mnist`;

async function main(argv) {
  const [what, ...rest] = argv;
  const fi = rest.indexOf('--file');
  const file = fi >= 0 ? rest[fi + 1] : undefined;
  if (fi >= 0 && !file) throw new DatasetsError('--file needs a path');
  switch (what) {
    case 'cifar10':
    case 'cifar-10':
      await cifar10({ file });
      return;
    case 'verify': {
      const dest = join(DATASETS_DIR, CIFAR10.file);
      if (existsSync(dest)) {
        await verifyCifar10(dest);
        console.log(`ok: ${dest}`);
      } else console.log(`${CIFAR10.file}: not downloaded (npm run datasets -- cifar10)`);
      return;
    }
    case 'fashion-mnist':
      if (existsSync('/usr/share/datasets/fashion-mnist')) console.log('Fashion-MNIST is installed in /usr/share/datasets/fashion-mnist (use --dataset fashion-mnist).');
      else console.log('Install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist` (Debian); it goes to /usr/share/datasets/fashion-mnist.');
      return;
    case undefined:
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      throw new DatasetsError(`unknown dataset "${what}". ${USAGE}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`datasets: ${e instanceof DatasetsError ? e.message : (e?.stack ?? e)}`);
    process.exit(1);
  });
}
