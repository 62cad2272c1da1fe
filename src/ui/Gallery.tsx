// The cluster gallery: the largest clusters of the latest targets (argmax), each with the
// images assigned to it drawn on a canvas, and their purity / NMI against the labels the
// method never saw. For SeLa, a few of its classes (its label of every training image after the
// latest label optimisation), picked from the purest to the least pure (src/worker/gallery.ts).
import { useEffect, useRef } from 'react';
import { fmt } from './format.ts';
import { useApp } from './store.ts';
import type { GalleryCluster } from '../worker/protocol.ts';

const COLS = 6;
const SCALE = 2;

function ClusterImages({ c, h, w, ch }: { c: GalleryCluster; h: number; w: number; ch: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const n = c.labels.length;
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const rows = Math.max(1, Math.ceil(n / COLS));
    const gap = 1;
    canvas.width = Math.min(n, COLS) * (w + gap) - gap;
    canvas.height = rows * (h + gap) - gap;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const per = h * w * ch;
    for (let i = 0; i < n; i++) {
      const img = ctx.createImageData(w, h);
      for (let p = 0; p < h * w; p++) {
        const src = i * per + p * ch;
        const r = c.images[src]!;
        img.data[p * 4] = r;
        img.data[p * 4 + 1] = ch === 3 ? c.images[src + 1]! : r;
        img.data[p * 4 + 2] = ch === 3 ? c.images[src + 2]! : r;
        img.data[p * 4 + 3] = 255;
      }
      ctx.putImageData(img, (i % COLS) * (w + gap), Math.floor(i / COLS) * (h + gap));
    }
  }, [c, h, w, ch, n]);
  return <canvas ref={ref} className="gallery-canvas" style={{ width: `${(Math.min(n, COLS) * (w + 1) - 1) * SCALE}px` }} role="img" aria-label={`${n} images of cluster ${c.cluster}`} />;
}

export function Gallery() {
  const g = useApp((s) => s.gallery);
  const refresh = useApp((s) => s.refreshGallery);
  const stepped = useApp((s) => s.train.step > 0);
  const tab = useApp((s) => s.tab);
  // Refresh when the tab opens (and there is something to show).
  useEffect(() => {
    if (tab === 'gallery' && stepped) refresh();
  }, [tab, stepped, refresh]);
  const r = g.result;
  return (
    <div className="gallery" data-testid="gallery">
      <section className="card gallery-head">
        <div>
          <h2>{r?.source === 'labels' ? 'SeLa classes' : 'Cluster gallery'}</h2>
          <p className="muted small">
            {r?.source === 'labels'
              ? 'A few of SeLa’s classes — its label of every training image after the latest label optimisation — from the purest to the least pure, with their first images.'
              : 'The largest clusters of the latest targets (argmax over K), with images from the recent batches.'}{' '}
            Purity and NMI compare the clusters with the dataset's labels, which the method never saw.
          </p>
        </div>
        <div className="gallery-actions">
          {r && (
            <span className="gallery-scores" data-testid="gallery-scores">
              <span className="figure">
                <span className="figure-label">purity</span>
                <span className="figure-value">{fmt(r.purity * 100, 3)} %</span>
              </span>
              <span className="figure">
                <span className="figure-label">NMI</span>
                <span className="figure-value">{fmt(r.nmi, 3)}</span>
              </span>
              <span className="figure">
                <span className="figure-label">images</span>
                <span className="figure-value">{r.assigned}</span>
              </span>
            </span>
          )}
          <button type="button" className="button" disabled={!stepped || g.status === 'loading'} onClick={() => refresh()}>
            {g.status === 'loading' ? 'Loading…' : 'Refresh'}
          </button>
        </div>
      </section>
      {g.error && (
        <p className="inline-error" role="alert">
          {g.error}
        </p>
      )}
      {!stepped && !r && <div className="card empty-state">Train a few steps: the gallery fills from the batches the model has assigned.</div>}
      {r && (
        <>
          <p className="muted small">
            {r.source === 'labels'
              ? `${r.assigned} images, labelled by the optimisation at step ${r.steps[0]}${r.steps[0] === 0 ? ' (the initial random labels, or those of a resumed run)' : ''}.`
              : `${r.assigned} images from steps ${r.steps[0]}–${r.steps[1]}.`}
          </p>
          <div className="gallery-grid">
            {r.clusters.map((c) => (
              <figure key={c.cluster} className="cluster-card">
                <figcaption>
                  <strong>
                    {r.source === 'labels' ? 'class' : 'cluster'} {c.cluster}
                  </strong>
                  <span className="muted small">
                    {c.size} images · {fmt(c.purity * 100, 3)} % {c.majority}
                  </span>
                </figcaption>
                <ClusterImages c={c} h={r.height} w={r.width} ch={r.channels} />
              </figure>
            ))}
          </div>
        </>
      )}
    </div>
  );
}
