// The Node GPU shared by every test file, and the tolerance check every kernel test uses.
import { nodeGpu } from '../../src/gpu/node.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { mulberry32 } from '../../src/ref/synthetic.ts';

let announced = false;

/** The process-wide device; prints the adapter once so CI logs name it. */
export async function testGpu(): Promise<GpuContext> {
  const { ctx, driver } = await nodeGpu();
  if (!announced) {
    announced = true;
    console.log(`[gpu] adapter: ${ctx.adapterName}${driver ? ` via ${driver}` : ''}`);
  }
  return ctx;
}

/**
 * The same device seen as a hardware GPU (isSoftware false): layers then pick their GPU variants
 * (barrier reductions, tiled GEMMs), so those run in the tests on the CPU emulator too.
 */
export function asHardwareGpu(ctx: GpuContext): GpuContext {
  return { ...ctx, info: { ...ctx.info, isSoftware: false } };
}

/** The test device for a variant-parametrised test: as it is ('emulator') or seen as a hardware GPU ('gpu'). */
export async function testGpuAs(kind: 'emulator' | 'gpu'): Promise<GpuContext> {
  const ctx = await testGpu();
  return kind === 'gpu' ? asHardwareGpu(ctx) : ctx;
}

/** Deterministic uniform values in [0, 1) (mulberry32), so failures reproduce. */
export const seededRandom = mulberry32;

export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export interface CloseReport {
  ok: boolean;
  worst: { index: number; ref: number; got: number; err: number; allowed: number };
  maxAbs: number;
  message: string;
}

/**
 * |ref − got| ≤ atol + rtol·|ref| elementwise. NaN or Inf anywhere in `got` fails. The message
 * names the worst element (largest error relative to what was allowed) and its index.
 */
export function compareClose(ref: ArrayLike<number>, got: ArrayLike<number>, atol: number, rtol: number, what = 'tensor'): CloseReport {
  if (ref.length !== got.length) {
    return { ok: false, worst: { index: -1, ref: NaN, got: NaN, err: NaN, allowed: 0 }, maxAbs: NaN, message: `${what}: length ${got.length}, expected ${ref.length}` };
  }
  let worst = { index: -1, ref: 0, got: 0, err: 0, allowed: 1 };
  let worstRatio = -1;
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const g = got[i]!;
    const err = Math.abs(r - g);
    const allowed = atol + rtol * Math.abs(r);
    const ratio = Number.isFinite(g) ? err / allowed : Infinity;
    if (Number.isFinite(err)) maxAbs = Math.max(maxAbs, err);
    if (ratio > worstRatio || Number.isNaN(ratio)) {
      worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
      worst = { index: i, ref: r, got: g, err, allowed };
    }
  }
  const ok = worstRatio <= 1;
  const message = `${what}: worst element [${worst.index}] ref ${worst.ref} got ${worst.got} |err| ${worst.err.toExponential(3)} allowed ${worst.allowed.toExponential(3)} (max |err| ${maxAbs.toExponential(3)} over ${ref.length})`;
  return { ok, worst, maxAbs, message };
}

/** Throws with the worst element when not close. */
export function expectClose(ref: ArrayLike<number>, got: ArrayLike<number>, atol: number, rtol: number, what = 'tensor'): CloseReport {
  const rep = compareClose(ref, got, atol, rtol, what);
  if (!rep.ok) throw new Error(rep.message);
  return rep;
}

/** max |got − ref| / max |ref| (or max |got − ref| when ref is all zeros): an error relative to the tensor's scale, with
 *  that scale; NaN counts as infinite. */
export function relativeError(ref: ArrayLike<number>, got: ArrayLike<number>): { err: number; scale: number } {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    const d = Math.abs(ref[i]! - got[i]!);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return { err: worst / (scale || 1), scale };
}

/** relativeError's error alone. */
export function relErr(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  return relativeError(ref, got).err;
}
