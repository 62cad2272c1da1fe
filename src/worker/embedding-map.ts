// The embedding map in the worker: the current run's test images (the kNN queries) by the student
// encoder in evaluation mode (Trainer.embedTestImages, the kNN embedder), flattened to 2-D by PCA
// on the GPU (src/mira/pca.ts) or, on request, by UMAP (umap-js, here on the CPU, seeded from the
// run's seed so a map reproduces) when there are at most UMAP_MAX_POINTS points; coloured on the
// page by class or by the method's cluster (argmax prototype; methods with a head only).
import { UMAP } from 'umap-js';
import { pcg } from '../data/rng.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { readF32 } from '../gpu/tensor.ts';
import { Pca } from '../mira/pca.ts';
import type { Trainer } from '../train/trainer.ts';
import { clusterQuality } from './gallery.ts';
import { UMAP_MAX_POINTS, type EmbeddingMapResult, type MapProjection } from './protocol.ts';

/** UMAP's settings: umap-js's defaults (15 neighbours, min_dist 0.1), 2 components. */
export const UMAP_SETTINGS = { nComponents: 2, nNeighbors: 15, minDist: 0.1 } as const;

/** A seeded uniform [0, 1) stream for umap-js (which otherwise uses Math.random): the PCG hash of (seed, counter). */
export function seededUniform(seed: number): () => number {
  const base = pcg(seed >>> 0);
  let i = 0;
  return () => pcg((base + i++) >>> 0) / 4294967296;
}

/** UMAP of N rows of D features (row-major) to N×2, reproducible for one seed. */
export function umapProject(features: Float32Array, N: number, D: number, seed: number): Float32Array {
  if (N > UMAP_MAX_POINTS) throw new RangeError(`UMAP maps at most ${UMAP_MAX_POINTS} points in the page; this run has ${N} test images (lower "kNN queries" or use PCA)`);
  if (N < 3) throw new RangeError(`UMAP needs at least 3 points; this run has ${N} test images (raise "kNN queries")`);
  const rows: number[][] = [];
  for (let n = 0; n < N; n++) rows.push(Array.from(features.subarray(n * D, (n + 1) * D)));
  const umap = new UMAP({ ...UMAP_SETTINGS, nNeighbors: Math.min(UMAP_SETTINGS.nNeighbors, N - 1), random: seededUniform(seed) });
  const out = umap.fit(rows);
  const points = new Float32Array(2 * N);
  out.forEach((p, n) => {
    points[2 * n] = p[0]!;
    points[2 * n + 1] = p[1]!;
  });
  return points;
}

/** PCA hosts by device and shape, kept across maps (compiling is the slow part). */
const pcaCache = new WeakMap<object, Map<string, Pca>>();

/** The map of the trainer's current weights. */
export async function embeddingMap(trainer: Trainer, data: DatasetSplits, projection: MapProjection): Promise<EmbeddingMapResult> {
  const e = await trainer.embedTestImages();
  if (projection === 'umap' && e.count > UMAP_MAX_POINTS)
    throw new RangeError(`UMAP maps at most ${UMAP_MAX_POINTS} points in the page; this run has ${e.count} test images (lower "kNN queries" or use PCA)`);
  const t0 = performance.now();
  let points: Float32Array;
  let explained: [number, number] | null = null;
  if (projection === 'pca') {
    let byShape = pcaCache.get(trainer.ctx);
    if (!byShape) pcaCache.set(trainer.ctx, (byShape = new Map()));
    const key = `${e.count}x${e.dim}`;
    let pca = byShape.get(key);
    if (!pca) byShape.set(key, (pca = await Pca.create(trainer.ctx, { rows: e.count, dim: e.dim, label: 'map.pca' })));
    const r = await pca.project(e.features);
    points = r.points;
    explained = r.explained;
  } else {
    points = umapProject(await readF32(trainer.ctx, e.features), e.count, e.dim, trainer.config.seed);
  }
  const projectS = (performance.now() - t0) / 1000;
  const ds = data.test;
  const per = ds.height * ds.width * ds.channels;
  const images = new Uint8Array(e.count * per);
  e.indices.forEach((idx, i) => images.set(ds.images.subarray(idx * per, (idx + 1) * per), i * per));
  const q = e.clusters ? clusterQuality(Array.from(e.clusters), Array.from(e.labels)) : null;
  const classes = ds.classes.length ? ds.classes.slice() : Array.from({ length: 1 + Math.max(...e.labels) }, (_, c) => String(c));
  return {
    projection,
    step: trainer.currentStep,
    method: trainer.config.method,
    points,
    labels: e.labels.slice(),
    clusters: e.clusters,
    prototypes: trainer.model.prototypes,
    classes,
    indices: e.indices.slice(),
    images,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    dim: e.dim,
    explained,
    projectS,
    purity: q?.purity ?? null,
    nmi: q?.nmi ?? null,
  };
}
