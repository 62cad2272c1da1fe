// Kernels: WGSL compiled once per (code, entry point, specialisation) and cached — one shader
// module per distinct code, one pipeline per distinct (module, entry point, constants), whatever
// label each caller gives it (layers of the same shape share one pipeline); bound to buffers once
// at plan time; recorded into the caller's command encoder. Compilation and validation errors
// become GpuKernelError naming the kernel, with the WGSL line and message. `compileStats` counts
// what was compiled and how long it took (the page's start-up breakdown, docs/ARCHITECTURE.md).
import { recordGpuError, type GpuContext } from './context.ts';
import { GpuKernelError } from './errors.ts';
import { hoistEnableF16, requireShaderF16, usesF16 } from './f16.ts';
import type { Tensor } from './tensor.ts';

export interface KernelSpec {
  /** Kernel family and variant, e.g. "gemm.tiled"; shown in errors and profiles. */
  label: string;
  code: string;
  entryPoint?: string;
  /** WGSL `override` constants: the specialisation (shapes, flags). */
  constants?: Record<string, number | boolean>;
}

export type Binding = Tensor | GPUBuffer | GPUBufferBinding;

const modules = new WeakMap<GPUDevice, Map<string, Promise<GPUShaderModule>>>();
const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** What one device has compiled: distinct modules and pipelines, kernel requests, and the time spent (ms, summed over overlapping compiles). */
export interface CompileStats {
  modules: number;
  pipelines: number;
  /** createKernel calls, cached or not. */
  requests: number;
  moduleMs: number;
  pipelineMs: number;
  /** Per label family (the label up to its first '.'), pipelines compiled and their ms. */
  byFamily: Record<string, { pipelines: number; ms: number }>;
}

const stats = new WeakMap<GPUDevice, CompileStats>();

/** The device's compile statistics so far (live object: read it, do not keep it). */
export function compileStats(ctx: GpuContext): CompileStats {
  let s = stats.get(ctx.device);
  if (!s) stats.set(ctx.device, (s = { modules: 0, pipelines: 0, requests: 0, moduleMs: 0, pipelineMs: 0, byFamily: {} }));
  return s;
}

function constantsKey(c: KernelSpec['constants']): string {
  if (!c) return '';
  return Object.keys(c)
    .sort()
    .map((k) => `${k}=${+c[k]!}`)
    .join(',');
}

function formatCompilation(code: string, messages: readonly GPUCompilationMessage[]): string {
  const lines = code.split('\n');
  return messages
    .filter((m) => m.type === 'error')
    .map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}${m.lineNum > 0 ? `\n    ${lines[m.lineNum - 1]?.trim() ?? ''}` : ''}`)
    .join('\n');
}

async function shaderModule(ctx: GpuContext, spec: KernelSpec): Promise<GPUShaderModule> {
  let byCode = modules.get(ctx.device);
  if (!byCode) modules.set(ctx.device, (byCode = new Map()));
  let p = byCode.get(spec.code);
  if (!p) {
    p = (async () => {
      const t0 = performance.now();
      ctx.device.pushErrorScope('validation');
      const module = ctx.device.createShaderModule({ label: spec.label, code: spec.code });
      const info = await module.getCompilationInfo();
      const scopeError = await ctx.device.popErrorScope();
      const errors = formatCompilation(spec.code, info.messages);
      if (errors || scopeError) throw new GpuKernelError(spec.label, `WGSL does not compile:\n${errors || scopeError!.message}`);
      const st = compileStats(ctx);
      st.modules++;
      st.moduleMs += performance.now() - t0;
      return module;
    })();
    byCode.set(spec.code, p);
    p.catch(() => byCode!.delete(spec.code));
  }
  return p;
}

/**
 * Compiles (or fetches from the cache) a compute pipeline. The cache key is the code, entry point
 * and constants, not the label: two layers of the same shape get one pipeline (each its own
 * Kernel, so errors and profiles still name the caller's label).
 */
export async function createKernel(ctx: GpuContext, spec: KernelSpec): Promise<Kernel> {
  // f16 kernels: refused up front on a device without shader-f16 (a clear message, not a WGSL error), and `enable f16;` put first.
  if (usesF16(spec.code)) {
    requireShaderF16(ctx, spec.label);
    spec = { ...spec, code: hoistEnableF16(spec.code) };
  }
  return new Kernel(ctx, spec.label, await compilePipeline(ctx, spec));
}

function compilePipeline(ctx: GpuContext, spec: KernelSpec): Promise<GPUComputePipeline> {
  let cache = pipelines.get(ctx.device);
  if (!cache) pipelines.set(ctx.device, (cache = new Map()));
  const st = compileStats(ctx);
  st.requests++;
  const entryPoint = spec.entryPoint ?? 'main';
  const key = `${entryPoint}|${constantsKey(spec.constants)}|${spec.code.length}:${hashString(spec.code)}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const module = await shaderModule(ctx, spec);
      const t0 = performance.now();
      ctx.device.pushErrorScope('validation');
      let pipeline: GPUComputePipeline;
      try {
        pipeline = await ctx.device.createComputePipelineAsync({
          label: spec.label,
          layout: 'auto',
          compute: { module, entryPoint, constants: numericConstants(spec.constants) },
        });
      } catch (e) {
        await ctx.device.popErrorScope();
        throw new GpuKernelError(spec.label, `pipeline creation failed: ${(e as Error).message}`);
      }
      const err = await ctx.device.popErrorScope();
      if (err) throw new GpuKernelError(spec.label, `pipeline creation failed: ${err.message}`);
      const ms = performance.now() - t0;
      const family = spec.label.split('.')[0]!;
      const f = (st.byFamily[family] ??= { pipelines: 0, ms: 0 });
      f.pipelines++;
      f.ms += ms;
      st.pipelines++;
      st.pipelineMs += ms;
      return pipeline;
    })();
    cache.set(key, p);
    p.catch(() => cache!.delete(key));
  }
  return p;
}

// WebGPU takes override constants as numbers; booleans become 0/1.
function numericConstants(c: KernelSpec['constants']): Record<string, number> | undefined {
  if (!c) return undefined;
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, +v]));
}

function hashString(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}

function toBufferBinding(b: Binding): GPUBufferBinding {
  if ('binding' in b && typeof (b as Tensor).binding === 'function') return (b as Tensor).binding();
  if ('buffer' in b) return b as GPUBufferBinding;
  return { buffer: b as GPUBuffer };
}

export class Kernel {
  constructor(
    readonly ctx: GpuContext,
    readonly label: string,
    readonly pipeline: GPUComputePipeline,
  ) {}

  /** Binds buffers to @group(0) @binding(0…n-1), in order. Do this once per plan, not per step. */
  bind(bindings: readonly Binding[], label = this.label): BoundKernel {
    const maxBinding = this.ctx.limits.maxStorageBufferBindingSize;
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => {
      const res = toBufferBinding(b);
      const size = res.size ?? res.buffer.size - (res.offset ?? 0);
      if (size > maxBinding) {
        throw new GpuKernelError(this.label, `binding ${i} (${res.buffer.label}) is ${size} bytes, over this adapter's maxStorageBufferBindingSize of ${maxBinding}`);
      }
      return { binding: i, resource: res };
    });
    this.ctx.device.pushErrorScope('validation');
    const bindGroup = this.ctx.device.createBindGroup({ label, layout: this.pipeline.getBindGroupLayout(0), entries });
    // Bind-group validation is reported asynchronously; surface it in the uncaptured list.
    this.ctx.device.popErrorScope().then((e) => {
      if (e) recordGpuError(this.ctx, `kernel "${this.label}": bind group invalid: ${e.message}`);
    });
    return new BoundKernel(this, bindGroup, label);
  }
}

/** Optional per-dispatch timing hook (see Profiler). */
export interface PassTimer {
  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined;
}

export class BoundKernel {
  constructor(
    readonly kernel: Kernel,
    readonly bindGroup: GPUBindGroup,
    readonly label: string,
  ) {}

  /** Records one dispatch into `encoder` (its own compute pass, timed when a timer is given). */
  record(encoder: GPUCommandEncoder, workgroups: readonly [number, number?, number?], timer?: PassTimer): void {
    const [x, y = 1, z = 1] = workgroups;
    const max = this.kernel.ctx.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max || x < 1 || y < 1 || z < 1) {
      throw new GpuKernelError(this.label, `dispatch (${x}, ${y}, ${z}) is outside 1…${max} workgroups per dimension`);
    }
    const pass = encoder.beginComputePass({ label: this.label, timestampWrites: timer?.timestampWrites(this.label) });
    pass.setPipeline(this.kernel.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
  }
}

/**
 * Runs `record` in one command buffer inside validation and out-of-memory error scopes and
 * throws a GpuKernelError naming `label` if either fires. For tests, the CLI and planning;
 * the training loop records many kernels into one encoder per step.
 */
export async function submitChecked(ctx: GpuContext, label: string, record: (enc: GPUCommandEncoder) => void): Promise<void> {
  const { device } = ctx;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder({ label });
  record(enc);
  device.queue.submit([enc.finish()]);
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (validation) throw new GpuKernelError(label, `validation error: ${validation.message}`);
  if (oom) throw new GpuKernelError(label, `out of GPU memory: ${oom.message}`);
}
