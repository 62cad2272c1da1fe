#!/usr/bin/env node
// Writes the bundled offline sample (public/datasets/fashion-mnist-sample-*.gz): a balanced,
// deterministic subset of Fashion-MNIST — the first TRAIN_PER_CLASS training images of each
// class and the first TEST_PER_CLASS test images of each class, in their original order — as
// gzipped IDX files, plus public/datasets/README.md.
//
//   node scripts/make-bundled-sample.mjs [--source /usr/share/datasets/fashion-mnist] [--out public/datasets]
//
// The source is Debian's `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), i.e.
// the files of https://github.com/zalandoresearch/fashion-mnist (MIT licence). The output is
// byte-for-byte reproducible (gzip level 9, no timestamp).
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

export const TRAIN_PER_CLASS = 300;
export const TEST_PER_CLASS = 100;
const CLASSES = 10;

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const source = flag('source', '/usr/share/datasets/fashion-mnist');
const out = resolve(flag('out', join(here, '..', 'public', 'datasets')));

function fail(msg) {
  console.error(`make-bundled-sample: ${msg}`);
  process.exit(1);
}

function readIdx(name, magic) {
  let path = join(source, name);
  if (!existsSync(path)) path = path.replace(/\.gz$/, '');
  if (!existsSync(path)) fail(`${join(source, name)} not found. Install Fashion-MNIST with \`sudo apt-get install dataset-fashion-mnist\` or pass --source <dir>.`);
  let b = readFileSync(path);
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b);
  const m = b.readUInt32BE(0);
  if (m !== magic) fail(`${path}: magic 0x${m.toString(16)}, expected 0x${magic.toString(16)}`);
  const n = b.readUInt32BE(4);
  if (magic === 0x803) {
    const h = b.readUInt32BE(8);
    const w = b.readUInt32BE(12);
    if (b.length !== 16 + n * h * w) fail(`${path}: truncated`);
    return { n, h, w, data: b.subarray(16) };
  }
  if (b.length !== 8 + n) fail(`${path}: truncated`);
  return { n, data: b.subarray(8) };
}

function pick(labels, perClass) {
  const taken = new Array(CLASSES).fill(0);
  const idx = [];
  for (let i = 0; i < labels.length && idx.length < perClass * CLASSES; i++) {
    const c = labels[i];
    if (taken[c] < perClass) {
      taken[c]++;
      idx.push(i);
    }
  }
  if (idx.length !== perClass * CLASSES) fail(`not enough images for ${perClass} per class`);
  return idx;
}

function idxImages(images, idx) {
  const { h, w, data } = images;
  const b = Buffer.alloc(16 + idx.length * h * w);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(idx.length, 4);
  b.writeUInt32BE(h, 8);
  b.writeUInt32BE(w, 12);
  idx.forEach((i, k) => data.copy(b, 16 + k * h * w, i * h * w, (i + 1) * h * w));
  return b;
}

function idxLabels(labels, idx) {
  const b = Buffer.alloc(8 + idx.length);
  b.writeUInt32BE(0x801, 0);
  b.writeUInt32BE(idx.length, 4);
  idx.forEach((i, k) => (b[8 + k] = labels.data[i]));
  return b;
}

const splits = [
  { split: 'train', prefix: 'train', perClass: TRAIN_PER_CLASS },
  { split: 'test', prefix: 't10k', perClass: TEST_PER_CLASS },
];
mkdirSync(out, { recursive: true });
const written = [];
for (const s of splits) {
  const images = readIdx(`${s.prefix}-images-idx3-ubyte.gz`, 0x803);
  const labels = readIdx(`${s.prefix}-labels-idx1-ubyte.gz`, 0x801);
  if (images.n !== labels.n) fail(`${s.prefix}: ${images.n} images but ${labels.n} labels`);
  const idx = pick(labels.data, s.perClass);
  for (const [kind, buf] of [
    ['images-idx3', idxImages(images, idx)],
    ['labels-idx1', idxLabels(labels, idx)],
  ]) {
    const name = `fashion-mnist-sample-${s.split}-${kind}-ubyte.gz`;
    const gz = gzipSync(buf, { level: 9 });
    writeFileSync(join(out, name), gz);
    written.push({ name, bytes: gz.length, md5: createHash('md5').update(gz).digest('hex'), count: idx.length });
  }
}
const total = written.reduce((a, f) => a + f.bytes, 0);

const readme = `# Datasets

## Bundled offline sample: \`fashion-mnist-sample-*\`

A balanced, deterministic subset of **Fashion-MNIST** (Xiao, Rasul & Vollgraf, 2017,
<https://github.com/zalandoresearch/fashion-mnist>), so the playground trains offline with
nothing to download:

- train: the first ${TRAIN_PER_CLASS} images of each of the 10 classes in the official training
  set, in their original order (${TRAIN_PER_CLASS * CLASSES} images);
- test: the first ${TEST_PER_CLASS} images of each class in the official test set
  (${TEST_PER_CLASS * CLASSES} images).

28×28 grayscale, gzipped IDX files (the format of the originals):

| file | images | bytes | md5 |
|---|---:|---:|---|
${written.map((f) => `| \`${f.name}\` | ${f.count} | ${f.bytes} | \`${f.md5}\` |`).join('\n')}

Total ${total} bytes.

**Licence.** Fashion-MNIST is distributed under the MIT licence
(<https://github.com/zalandoresearch/fashion-mnist/blob/master/LICENSE>); the subset keeps it.
The source files were those installed by Debian's \`dataset-fashion-mnist\` package
(\`/usr/share/datasets/fashion-mnist/\`, licence "Expat", i.e. MIT). Its notice:

> The MIT License (MIT) — Copyright © 2017 Zalando SE, https://tech.zalando.com
>
> Permission is hereby granted, free of charge, to any person obtaining a copy of this software
> and associated documentation files (the "Software"), to deal in the Software without
> restriction, including without limitation the rights to use, copy, modify, merge, publish,
> distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
> Software is furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
> BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

**Regenerate** (byte-for-byte identical output):

\`\`\`bash
sudo apt-get install dataset-fashion-mnist    # if /usr/share/datasets/fashion-mnist is missing
node scripts/make-bundled-sample.mjs          # [--source <dir with the 4 IDX .gz files>] [--out public/datasets]
\`\`\`

Load it with \`loadDataset('bundled')\` (Node, \`src/data/node-fs.ts\`) or
\`fetchBundledSample('/datasets/')\` (browser, \`src/data/fetch.ts\`).

## CIFAR-10 (not committed)

\`npm run datasets -- cifar10\` downloads <https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz>
(162 MiB) into this directory and checks its size and md5. The readers take the tarball as it
is (\`cifar-10-binary.tar.gz\`) or its unpacked \`cifar-10-batches-bin/\` directory.
CIFAR-10: Krizhevsky, *Learning Multiple Layers of Features from Tiny Images*, 2009.
`;
writeFileSync(join(out, 'README.md'), readme);
for (const f of written) console.log(`${f.name}  ${f.count} records  ${f.bytes} bytes  md5 ${f.md5}`);
console.log(`total ${total} bytes (${(total / 1048576).toFixed(2)} MiB) in ${out}`);
