// The browser-safe surface of src/data (Node-only file access is in ./node-fs.ts).
export * from './dataset.ts';
export * from './cifar.ts';
export * from './idx.ts';
export * from './tar.ts';
export * from './gzip.ts';
export * from './load.ts';
export * from './fetch.ts';
export * from './rng.ts';
export * from './augment.ts';
