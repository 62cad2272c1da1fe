// Layout conversions between our tensors and PyTorch's: activations NHWC ↔ NCHW, convolution
// weights HWIO ([kh][kw][Cin][Cout]) ↔ OIHW ([Cout][Cin][kh][kw]). Each takes the source
// array and the source's shape in the source's own axis order, and returns a new array of the
// same type. Checkpoints (src/nn/checkpoint.ts) use them to read and write PyTorch's layouts; the
// float64 references and the tests use them too (src/ref imports them from here, never the reverse).

type Floats = Float32Array | Float64Array;

function make<T extends Floats>(like: T, n: number): T {
  return (like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n)) as T;
}

function checkSize(what: string, a: Floats, shape: number[]): void {
  const n = shape.reduce((p, d) => p * d, 1);
  if (a.length !== n) throw new Error(`${what}: array has ${a.length} elements but shape [${shape.join(',')}] needs ${n}`);
}

/**
 * Moves axis 1 of a 4-d array to the end (perm 0,2,3,1) or the end to axis 1 (perm 0,3,1,2):
 * both conversions below are one of these two.
 */
function permute4<T extends Floats>(src: T, [d0, d1, d2, d3]: number[], perm: 'moveLastToSecond' | 'moveSecondToLast'): T {
  const out = make(src, src.length);
  let i = 0;
  for (let a = 0; a < d0!; a++) {
    for (let b = 0; b < d1!; b++) {
      for (let c = 0; c < d2!; c++) {
        for (let d = 0; d < d3!; d++, i++) {
          // Source index (a,b,c,d); destination axes (a,d,b,c) or (a,c,d,b).
          const j = perm === 'moveLastToSecond' ? ((a * d3! + d) * d1! + b) * d2! + c : ((a * d2! + c) * d3! + d) * d1! + b;
          out[j] = src[i]!;
        }
      }
    }
  }
  return out;
}

/** NHWC [n][h][w][c] → NCHW [n][c][h][w]. */
export function nhwcToNchw<T extends Floats>(x: T, shape: [n: number, h: number, w: number, c: number]): T {
  checkSize('nhwcToNchw', x, shape);
  return permute4(x, shape, 'moveLastToSecond');
}

/** NCHW [n][c][h][w] → NHWC [n][h][w][c]. */
export function nchwToNhwc<T extends Floats>(x: T, shape: [n: number, c: number, h: number, w: number]): T {
  checkSize('nchwToNhwc', x, shape);
  return permute4(x, shape, 'moveSecondToLast');
}

/** HWIO [kh][kw][Cin][Cout] → OIHW [Cout][Cin][kh][kw]. */
export function hwioToOihw<T extends Floats>(w: T, shape: [kh: number, kw: number, cin: number, cout: number]): T {
  checkSize('hwioToOihw', w, shape);
  const [kh, kw, ci, co] = shape;
  const out = make(w, w.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + x] = w[((h * kw + x) * ci + i) * co + o]!;
  return out;
}

/** OIHW [Cout][Cin][kh][kw] → HWIO [kh][kw][Cin][Cout]. */
export function oihwToHwio<T extends Floats>(w: T, shape: [cout: number, cin: number, kh: number, kw: number]): T {
  checkSize('oihwToHwio', w, shape);
  const [co, ci, kh, kw] = shape;
  const out = make(w, w.length);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let h = 0; h < kh; h++)
        for (let x = 0; x < kw; x++) out[((h * kw + x) * ci + i) * co + o] = w[((o * ci + i) * kh + h) * kw + x]!;
  return out;
}
