#!/usr/bin/env node
// `npm run datasets -- <name>`: fetches a dataset into public/datasets/ and checks it.
//
//   npm run datasets -- cifar10              download cifar-10-binary.tar.gz, check size and md5
//   npm run datasets -- cifar10 --file <p>   check (and copy in) a tarball you downloaded yourself
//   npm run datasets -- verify               check what is already in public/datasets/
//   npm run datasets -- fashion-mnist        say where Fashion-MNIST comes from (apt-get)
//
// One download attempt, no retries: on failure it says why and what to do, and exits 1.
// The download goes to a .part file that is renamed only after the checks pass, so a failed or
// interrupted download never leaves a file that looks complete.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync, unlinkSync, copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
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

/** Checks a CIFAR-10 tarball; throws a DatasetsError saying what differs. Returns its md5. */
export async function verifyCifar10(path) {
  if (!existsSync(path)) throw new DatasetsError(`${path}: not found`);
  const size = statSync(path).size;
  const md5 = await md5File(path);
  if (md5 !== CIFAR10.md5) {
    throw new DatasetsError(
      `${path}: ${size} bytes with md5 ${md5}; expected ${CIFAR10.bytes} bytes with md5 ${CIFAR10.md5} ` +
        `(${size < CIFAR10.bytes ? 'truncated download?' : 'not the CIFAR-10 binary tarball?'}). Delete it and download it again.`,
    );
  }
  if (size !== CIFAR10.bytes) console.warn(`note: md5 matches but the size is ${size}, not ${CIFAR10.bytes}`);
  return md5;
}

async function download(url, dest, timeoutMs = 60_000) {
  const part = dest + '.part';
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e);
    throw new DatasetsError(`could not download ${url} (${cause}). Is this machine offline? Download it by hand and run \`npm run datasets -- cifar10 --file <path>\`.`);
  }
  if (!res.ok || !res.body) throw new DatasetsError(`could not download ${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length')) || CIFAR10.bytes;
  let got = 0;
  let lastPct = -1;
  const body = Readable.fromWeb(res.body);
  body.on('data', (chunk) => {
    got += chunk.length;
    const pct = Math.floor((100 * got) / total);
    if (pct >= lastPct + 10) {
      lastPct = pct;
      process.stderr.write(`  ${pct}% (${(got / 1048576).toFixed(1)} MiB)\n`);
    }
  });
  try {
    await pipeline(body, createWriteStream(part));
  } catch (e) {
    if (existsSync(part)) unlinkSync(part);
    throw new DatasetsError(`download of ${url} failed after ${got} bytes (${e?.message ?? e}); nothing was kept. Run the command again.`);
  }
  return part;
}

export async function cifar10({ file, dir = DATASETS_DIR } = {}) {
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
  console.log(`downloading ${CIFAR10.url} (${(CIFAR10.bytes / 1048576).toFixed(0)} MiB) …`);
  const part = await download(CIFAR10.url, dest);
  try {
    await verifyCifar10(part);
  } catch (e) {
    unlinkSync(part);
    throw e;
  }
  renameSync(part, dest);
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
