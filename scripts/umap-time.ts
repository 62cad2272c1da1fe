// How long umap-js (the embedding map's UMAP, src/worker/embedding-map.ts) takes on this machine for
// N points of D features (clustered synthetic data like encoder features: 10 Gaussian blobs), to
// choose UMAP_MAX_POINTS. Run: `npx vite-node --script scripts/umap-time.ts [D …]`.
import { umapProject } from '../src/worker/embedding-map.ts';

const dims = process.argv
  .slice(2)
  .map(Number)
  .filter((d) => d > 0);
for (const D of dims.length ? dims : [32, 512]) {
  for (const N of [250, 500, 1000, 2000]) {
    let s = 12345;
    const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
    const centres = Array.from({ length: 10 }, () => Array.from({ length: D }, () => 4 * (rnd() - 0.5)));
    const x = new Float32Array(N * D);
    for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) x[n * D + d] = centres[n % 10]![d]! + (rnd() - 0.5);
    const t = performance.now();
    umapProject(x, N, D, 1);
    console.log(JSON.stringify({ N, D, seconds: +((performance.now() - t) / 1000).toFixed(2) }));
  }
}
