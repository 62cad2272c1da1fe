// The embedding map: the test images' encoder features in 2-D (PCA on the GPU or UMAP in the
// worker, src/worker/embedding-map.ts), one dot per image on a canvas, coloured by true class or by
// the method's cluster, with a legend; hovering a dot shows its image. `EmbeddingMapView` takes
// plain data (points, a colour per point, legend, image lookup) so a comparison can show one map per
// method side by side; `EmbeddingMapPanel` is the current run's tab, wired to the store.
import { useEffect, useMemo, useRef, useState, type MouseEvent } from 'react';
import { fmt } from './format.ts';
import { useApp } from './store.ts';
import { methodById } from '../methods/registry.ts';
import { UMAP_MAX_POINTS, type EmbeddingMapResult } from '../worker/protocol.ts';

/** Tableau 10: distinct on the dark theme, the usual class palette. */
export const CLASS_PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'] as const;
/** Clusters beyond the palette share a grey. */
const OTHER = '#5b6478';

export interface MapImage {
  /** H×W×C uint8, NHWC. */
  pixels: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

export interface LegendEntry {
  label: string;
  color: string;
  count: number;
}

export interface EmbeddingMapViewProps {
  /** N×2 row-major coordinates (any scale; the view fits them). */
  points: Float32Array;
  /** A CSS colour per point. */
  colors: readonly string[];
  legend: readonly LegendEntry[];
  /** The image of point i, for the hover card (omit for none). */
  imageAt?: (i: number) => MapImage | null;
  /** The hover card's caption of point i. */
  describe?: (i: number) => string;
  /** CSS pixels; the canvas is drawn at the device pixel ratio. */
  width?: number;
  height?: number;
  /** An accessible name for the canvas. */
  label?: string;
}

const DOT = 2.5;
const PAD = 10;
const HOVER_PX = 8;

/** Canvas coordinates (CSS px) of every point, fitted to the box with equal scales on both axes. */
function layout(points: Float32Array, w: number, h: number): Float32Array {
  const n = points.length / 2;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i]!;
    const y = points[2 * i + 1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  const out = new Float32Array(2 * n).fill(NaN);
  if (!(x1 >= x0 && y1 >= y0)) return out;
  const s = Math.min((w - 2 * PAD) / Math.max(x1 - x0, 1e-12), (h - 2 * PAD) / Math.max(y1 - y0, 1e-12));
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  for (let i = 0; i < n; i++) {
    out[2 * i] = w / 2 + (points[2 * i]! - cx) * s;
    // Up is +y.
    out[2 * i + 1] = h / 2 - (points[2 * i + 1]! - cy) * s;
  }
  return out;
}

function HoverImage({ image }: { image: MapImage }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const { pixels, height: h, width: w, channels: ch } = image;
    canvas.width = w;
    canvas.height = h;
    const img = ctx.createImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      const r = pixels[p * ch]!;
      img.data[p * 4] = r;
      img.data[p * 4 + 1] = ch === 3 ? pixels[p * ch + 1]! : r;
      img.data[p * 4 + 2] = ch === 3 ? pixels[p * ch + 2]! : r;
      img.data[p * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }, [image]);
  return <canvas ref={ref} className="map-hover-image" style={{ width: `${image.width * 3}px` }} />;
}

export function EmbeddingMapView({ points, colors, legend, imageAt, describe, width = 560, height = 420, label = 'Embedding map' }: EmbeddingMapViewProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  const xy = useMemo(() => layout(points, width, height), [points, width, height]);
  const [hover, setHover] = useState<{ i: number; x: number; y: number } | null>(null);
  const n = points.length / 2;

  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const dpr = typeof window !== 'undefined' ? window.devicePixelRatio || 1 : 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i]!;
      const y = xy[2 * i + 1]!;
      if (!Number.isFinite(x)) continue;
      ctx.fillStyle = colors[i] ?? OTHER;
      ctx.beginPath();
      ctx.arc(x, y, DOT, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (hover) {
      ctx.strokeStyle = '#ffffff';
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(xy[2 * hover.i]!, xy[2 * hover.i + 1]!, DOT + 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }, [xy, colors, n, width, height, hover]);

  const onMove = (e: MouseEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const mx = ((e.clientX - r.left) / r.width) * width;
    const my = ((e.clientY - r.top) / r.height) * height;
    let best = -1;
    let bestD = HOVER_PX * HOVER_PX;
    for (let i = 0; i < n; i++) {
      const d = (xy[2 * i]! - mx) ** 2 + (xy[2 * i + 1]! - my) ** 2;
      if (d < bestD) [best, bestD] = [i, d];
    }
    setHover(best < 0 ? null : { i: best, x: xy[2 * best]!, y: xy[2 * best + 1]! });
  };

  const image = hover && imageAt ? imageAt(hover.i) : null;
  return (
    <div className="map-view">
      <div className="map-canvas-wrap" style={{ width: `${width}px`, height: `${height}px` }}>
        <canvas
          ref={ref}
          className="map-canvas"
          data-testid="map-canvas"
          data-points={n}
          style={{ width: `${width}px`, height: `${height}px` }}
          role="img"
          aria-label={`${label}: ${n} points`}
          onMouseMove={onMove}
          onMouseLeave={() => setHover(null)}
        />
        {hover && (
          <div className="map-hover" data-testid="map-hover" style={{ left: `${Math.min(hover.x + 12, width - 120)}px`, top: `${Math.min(hover.y + 12, height - 120)}px` }}>
            {image && <HoverImage image={image} />}
            {describe && <span className="small">{describe(hover.i)}</span>}
          </div>
        )}
      </div>
      <ul className="map-legend" data-testid="map-legend" aria-label="Legend">
        {legend.map((e) => (
          <li key={e.label}>
            <span className="swatch" style={{ background: e.color }} />
            {e.label} <span className="muted small">{e.count}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Colours and legend of a map result: by true class, or by the method's cluster (the largest clusters get the palette, the rest grey). */
export function mapColours(r: EmbeddingMapResult, by: 'class' | 'cluster'): { colors: string[]; legend: LegendEntry[] } {
  const n = r.labels.length;
  if (by === 'cluster' && r.clusters) {
    const sizes = new Map<number, number>();
    for (const k of r.clusters) sizes.set(k, (sizes.get(k) ?? 0) + 1);
    const order = [...sizes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const colourOf = new Map<number, string>(order.slice(0, CLASS_PALETTE.length).map(([k], j) => [k, CLASS_PALETTE[j]!]));
    const colors = Array.from(r.clusters, (k) => colourOf.get(k) ?? OTHER);
    const legend = order.slice(0, CLASS_PALETTE.length).map(([k, c]) => ({ label: `cluster ${k}`, color: colourOf.get(k)!, count: c }));
    const rest = order.slice(CLASS_PALETTE.length);
    if (rest.length) legend.push({ label: `${rest.length} more clusters`, color: OTHER, count: rest.reduce((s, [, c]) => s + c, 0) });
    return { colors, legend };
  }
  const counts = new Array<number>(r.classes.length).fill(0);
  for (let i = 0; i < n; i++) counts[r.labels[i]!]! += 1;
  const colourOfClass = (c: number) => (c < CLASS_PALETTE.length ? CLASS_PALETTE[c]! : OTHER);
  return {
    colors: Array.from(r.labels, colourOfClass),
    legend: r.classes.map((label, c) => ({ label, color: colourOfClass(c), count: counts[c]! })).filter((e) => e.count > 0),
  };
}

/** The hover lookup of a map result: point i's image. */
export function mapImageAt(r: EmbeddingMapResult): (i: number) => MapImage {
  const per = r.height * r.width * r.channels;
  return (i) => ({ pixels: r.images.subarray(i * per, (i + 1) * per), height: r.height, width: r.width, channels: r.channels });
}

export function EmbeddingMapPanel() {
  const m = useApp((s) => s.embeddingMap);
  const compute = useApp((s) => s.computeEmbeddingMap);
  const setProjection = useApp((s) => s.setMapProjection);
  const setColouring = useApp((s) => s.setMapColouring);
  const hasRun = useApp((s) => s.train.phase !== 'idle' && s.train.phase !== 'building');
  const queries = useApp((s) => Math.min(s.config.knnQueries, s.dataset.info?.testCount ?? s.config.knnQueries));
  const method = methodById(useApp((s) => s.config.method));
  const r = m.result;
  const umapOk = queries <= UMAP_MAX_POINTS;
  const shown = useMemo(() => (r ? mapColours(r, m.colouring) : null), [r, m.colouring]);
  const imageAt = useMemo(() => (r ? mapImageAt(r) : undefined), [r]);
  const describe = useMemo(() => (r ? (i: number) => `${r.classes[r.labels[i]!] ?? r.labels[i]}${r.clusters ? ` · cluster ${r.clusters[i]}` : ''} · test #${r.indices[i]}` : undefined), [r]);
  return (
    <div className="embedding-map" data-testid="embedding-map">
      <section className="card map-head">
        <div>
          <h2>Embedding map</h2>
          <p className="muted small">
            The {queries} test images that kNN classifies, through the encoder as it is now (evaluation mode), flattened to 2-D: PCA on the GPU (any number of images), or UMAP in the worker, seeded by
            the run's seed (at most {UMAP_MAX_POINTS} images: above that it takes minutes on one CPU core). Classes that form separate islands are what kNN and a linear probe can pick apart.
          </p>
        </div>
        <div className="map-actions">
          <div className="segmented" role="radiogroup" aria-label="Projection">
            <label>
              <input type="radio" name="map-projection" checked={m.projection === 'pca'} onChange={() => setProjection('pca')} /> PCA
            </label>
            <label title={umapOk ? undefined : `UMAP maps at most ${UMAP_MAX_POINTS} images; lower "kNN queries" to use it`}>
              <input type="radio" name="map-projection" checked={m.projection === 'umap'} disabled={!umapOk} onChange={() => setProjection('umap')} /> UMAP
            </label>
          </div>
          <div className="segmented" role="radiogroup" aria-label="Colour by">
            <label>
              <input type="radio" name="map-colour" checked={m.colouring === 'class'} onChange={() => setColouring('class')} /> true class
            </label>
            <label title={method.kind === 'embedding' ? `${method.label} has no prototypes: colour by class only` : undefined}>
              <input type="radio" name="map-colour" checked={m.colouring === 'cluster'} disabled={!r?.clusters} onChange={() => setColouring('cluster')} />{' '}
              {method.kind === 'embedding' ? 'cluster (none)' : 'cluster'}
            </label>
          </div>
          <button type="button" className="button" disabled={!hasRun || m.status === 'computing' || (m.projection === 'umap' && !umapOk)} onClick={() => compute()}>
            {m.status === 'computing' ? 'Computing…' : 'Compute map'}
          </button>
        </div>
      </section>
      {m.error && (
        <p className="inline-error" role="alert">
          {m.error}
        </p>
      )}
      {!r && m.status !== 'computing' && (
        <div className="card empty-state">{hasRun ? 'Press "Compute map" to map the test images with the current weights.' : 'Load a dataset and build a run first.'}</div>
      )}
      {r && shown && (
        <section className="card">
          <p className="muted small" data-testid="map-caption">
            {methodById(r.method).label}, step {r.step}: {r.labels.length} test images, {r.dim} features, {r.projection === 'pca' ? 'PCA' : 'UMAP'}
            {r.explained && ` (axes explain ${fmt(r.explained[0] * 100, 3)} % and ${fmt(r.explained[1] * 100, 3)} % of the variance)`} in {fmt(r.projectS, 2)} s
            {r.purity !== null && r.nmi !== null && ` · clusters vs classes: purity ${fmt(r.purity * 100, 3)} %, NMI ${fmt(r.nmi, 3)}`}.
          </p>
          <EmbeddingMapView points={r.points} colors={shown.colors} legend={shown.legend} imageAt={imageAt} describe={describe} label={`Embedding map of ${methodById(r.method).label}`} />
        </section>
      )}
    </div>
  );
}
