// The cluster gallery's data (src/ui/Gallery.tsx draws it): clusters of training images with a
// few of their images and their purity, and purity / NMI of all of them against the labels the
// method never saw (src/mira/cluster-quality.ts). Two sources:
//   targets  the argmax of the latest batches' targets (every pseudo-label method with targets):
//            the largest clusters, with their most recently assigned images;
//   labels   SeLa's label of every training image after its latest label optimisation: its
//            classes are near equal in size, so a few are picked evenly spaced in purity (the
//            purest, …, the least pure), each with its first images in dataset order.
import type { Dataset } from '../data/dataset.ts';
import { nmi, purity } from '../mira/cluster-quality.ts';
import type { GalleryResult } from './protocol.ts';

export function clusterQuality(pred: readonly number[] | Uint32Array, labels: readonly number[] | Uint32Array): { purity: number; nmi: number } {
  const p = Int32Array.from(pred);
  const l = Int32Array.from(labels);
  return { purity: purity(p, l), nmi: nmi(p, l) };
}

export interface GalleryInput {
  /** Training-image indices and the cluster (class) of each. */
  idx: ArrayLike<number>;
  pred: ArrayLike<number>;
  /** Steps the assignments come from (first, last). */
  steps: [number, number];
  source: 'targets' | 'labels';
  clusters: number;
  perCluster: number;
}

export function buildGallery(ds: Pick<Dataset, 'images' | 'labels' | 'height' | 'width' | 'channels' | 'classes'>, g: GalleryInput): GalleryResult {
  const n = g.idx.length;
  if (g.pred.length !== n) throw new Error(`gallery: ${g.pred.length} clusters for ${n} images`);
  const labels = Array.from(g.idx, (i) => ds.labels[i]!);
  const pred = Array.from(g.pred);
  const q = clusterQuality(pred, labels);
  const byCluster = new Map<number, number[]>();
  pred.forEach((k, j) => {
    const list = byCluster.get(k) ?? [];
    list.push(j);
    byCluster.set(k, list);
  });
  const majorityOf = (members: number[]) => {
    const counts = new Map<number, number>();
    for (const j of members) counts.set(labels[j]!, (counts.get(labels[j]!) ?? 0) + 1);
    let majority = 0;
    let best = -1;
    for (const [l, c] of counts) if (c > best || (c === best && l < majority)) [majority, best] = [l, c];
    return { majority, purity: best / members.length };
  };
  let top: [number, number[]][];
  if (g.source === 'labels') {
    const ranked = [...byCluster.entries()].map(([k, m]) => ({ k, m, p: majorityOf(m).purity })).sort((a, b) => b.p - a.p || a.k - b.k);
    const count = Math.min(g.clusters, ranked.length);
    const picks = new Set<number>();
    for (let j = 0; j < count; j++) picks.add(count === 1 ? 0 : Math.round((j * (ranked.length - 1)) / (count - 1)));
    top = [...picks].map((r) => [ranked[r]!.k, ranked[r]!.m]);
  } else {
    top = [...byCluster.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0]).slice(0, g.clusters);
  }
  const per = ds.height * ds.width * ds.channels;
  return {
    assigned: n,
    steps: g.steps,
    source: g.source,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    classes: ds.classes,
    purity: q.purity,
    nmi: q.nmi,
    clusters: top.map(([cluster, members]) => {
      const shown = g.source === 'labels' ? members.slice(0, g.perCluster) : members.slice(-g.perCluster);
      const images = new Uint8Array(shown.length * per);
      shown.forEach((j, s) => images.set(ds.images.subarray(g.idx[j]! * per, (g.idx[j]! + 1) * per), s * per));
      const m = majorityOf(members);
      return { cluster, size: members.length, images, labels: shown.map((j) => labels[j]!), purity: m.purity, majority: ds.classes[m.majority] ?? String(m.majority) };
    }),
  };
}
