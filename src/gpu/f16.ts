// Half precision (WGSL f16, the adapter feature `shader-f16`): the host-side conversions between
// f32 and IEEE binary16 (Node 20 has no Float16Array), the check that a device can run f16 at
// all, and the placement of WGSL's `enable f16;` directive. The f16 path stores activations and a
// weight copy in f16 and does every sum in f32 (docs/ARCHITECTURE.md, Kernels: "Precision"); see
// src/gpu/storage-view.ts for the accessors that convert at each load and store.
import type { GpuContext } from './context.ts';
import { GpuKernelError } from './errors.ts';

/** Largest finite f16 (65504); anything at or above 65520 rounds to infinity. */
export const F16_MAX = 65504;
/** Unit roundoff of f16 (2^-11): a value rounded to f16 is within this relative error. */
export const F16_EPS = 2 ** -11;

export { f16BitsToF32, f32ToF16Bits } from '../io/half.ts';
import { f16BitsToF32, f32ToF16Bits } from '../io/half.ts';

/** Rounds every value to the nearest f16 (what storing it in an f16 tensor does), as f32. */
export function roundToF16(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f16BitsToF32(f32ToF16Bits(values[i]!));
  return out;
}

export function encodeF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return out;
}

export function decodeF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]!);
  return out;
}

/** What to tell someone whose device cannot run f16. */
export const NO_F16_HINT = "this adapter does not offer WebGPU's shader-f16 feature; use precision f32 (--precision f32, the default) or 'auto', which picks f16 only where it is offered";

/** Throws unless the device was created with shader-f16 (src/gpu/context.ts requests it whenever the adapter offers it). */
export function requireShaderF16(ctx: GpuContext, what: string): void {
  if (!ctx.features.shaderF16) throw new GpuKernelError(what, `needs f16 storage, but ${NO_F16_HINT}`);
}

const ENABLE_F16 = /^[ \t]*enable f16;[ \t]*\r?\n?/gm;

/** Whether WGSL code asks for f16 (an `enable f16;` line anywhere: storage views and the layer headers put one there). */
export function usesF16(code: string): boolean {
  ENABLE_F16.lastIndex = 0;
  return ENABLE_F16.test(code);
}

/**
 * WGSL requires directives before every declaration, but code is assembled from pieces (storage
 * views, lane headers, shader files) that each may need f16: every `enable f16;` line is removed
 * and one is put first. Code without one is returned unchanged (the f32 kernels compile exactly as before).
 */
export function hoistEnableF16(code: string): string {
  if (!usesF16(code)) return code;
  return 'enable f16;\n' + code.replace(ENABLE_F16, '');
}

/** The precision setting of a run (the `precision` row of src/train/config.ts) and what it resolves to on a device. */
export type PrecisionSetting = 'f32' | 'f16' | 'auto';

/**
 * 'auto' is f16 on a hardware adapter that offers shader-f16, else f32 (like the GEMM variants,
 * src/gpu/gemm.ts defaultGemmVariant: CPU emulators keep f32, where f16 saves no time); 'f16' on a
 * device without shader-f16 is refused, naming the flag.
 */
export function resolvePrecision(ctx: GpuContext, setting: PrecisionSetting): 'f32' | 'f16' {
  if (setting === 'auto') return ctx.features.shaderF16 && !ctx.info.isSoftware ? 'f16' : 'f32';
  if (setting === 'f16' && !ctx.features.shaderF16) {
    throw new GpuKernelError('precision', `--precision f16 needs WebGPU's shader-f16 feature, which ${ctx.adapterName} does not offer; use --precision f32 (the default) or --precision auto`);
  }
  return setting;
}
