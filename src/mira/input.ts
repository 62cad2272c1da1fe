// Reading a logit matrix from .npy bytes for assignment, with every check done before anything
// reaches the GPU: a readable .npy (src/io/npy.ts says what is wrong with it), float32 or
// float64, exactly 2-D, B ≥ 1 rows and K ≥ 2 columns, every value finite (the first bad one is
// named by row and column) and, for the GPU, inside float32's range.
import { parseNpy } from '../io/npy.ts';
import { checkFinite, checkMatrixShape, ParamError } from './validate.ts';

/** The input is not a usable logit file (unreadable, truncated, wrong dtype). */
export class InputError extends Error {
  override name = 'InputError';
}

export interface LogitMatrix {
  B: number;
  K: number;
  dtype: 'float32' | 'float64';
  /** Row-major B×K, as stored in the file. */
  data: Float32Array | Float64Array;
}

const F32_MAX = 3.4028234663852886e38;

/** Parses and checks a B×K float32/float64 .npy; `name` appears in every message. */
export function logitsFromNpy(bytes: Uint8Array, name: string): LogitMatrix {
  let arr;
  try {
    // A Node Buffer's slice() is a view into a shared pool, not a copy; hand parseNpy a plain
    // Uint8Array so the array it returns owns exactly its own bytes.
    const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes);
    arr = parseNpy(plain, name);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  if (arr.dtype !== 'float32' && arr.dtype !== 'float64') {
    throw new InputError(`${name}: logits must be float32 or float64, got ${arr.dtype} (convert with arr.astype(np.float32))`);
  }
  const data = arr.data as Float32Array | Float64Array;
  const [B, K] = checkMatrixShape(arr.shape, data.length, name);
  checkFinite(data, B, K, name);
  return { B, K, dtype: arr.dtype, data };
}

/** Float32 copy for the GPU; refuses values beyond float32's range (they would become ±Inf). */
export function toFloat32(m: LogitMatrix, name: string): Float32Array {
  if (m.data instanceof Float32Array) return m.data;
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < out.length; i++) {
    const x = m.data[i]!;
    if (Math.abs(x) > F32_MAX) throw new ParamError(`${name}: value at row ${Math.floor(i / m.K)}, column ${i % m.K} is ${x}, beyond float32's range; the GPU works in float32 (use --backend cpu)`);
    out[i] = x;
  }
  return out;
}
