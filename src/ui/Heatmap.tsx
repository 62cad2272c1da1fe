// A B×K matrix of probabilities drawn on a canvas: one cell per entry, brightness ∝ value
// (square root of the value over the matrix's maximum), in the colour of its method; rows in
// `order` when given.
import { useEffect, useRef } from 'react';

function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.replace('#', ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function Heatmap({ data, rows, cols, color, label, testid, order }: { data: Float32Array; rows: number; cols: number; color: string; label: string; testid?: string; order?: number[] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || data.length !== rows * cols) return;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    canvas.width = cols;
    canvas.height = rows;
    const img = ctx.createImageData(cols, rows);
    let max = 0;
    for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
    const [r, g, b] = hexToRgb(color);
    const bg = [18, 23, 33];
    for (let i = 0; i < data.length; i++) {
      const row = Math.floor(i / cols);
      const src = (order ? order[row]! : row) * cols + (i % cols);
      const t = max > 0 ? Math.sqrt(Math.max(0, data[src]!) / max) : 0;
      const o = i * 4;
      img.data[o] = bg[0]! + (r - bg[0]!) * t;
      img.data[o + 1] = bg[1]! + (g - bg[1]!) * t;
      img.data[o + 2] = bg[2]! + (b - bg[2]!) * t;
      img.data[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }, [data, rows, cols, color, order]);
  return <canvas ref={ref} className="heatmap" role="img" aria-label={label} data-testid={testid} />;
}
