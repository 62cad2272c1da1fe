// Node-only: a `GPU` object from Dawn (the `webgpu` npm package). On a machine without a GPU,
// Dawn needs a CPU Vulkan driver. We respect VK_ICD_FILENAMES when set; otherwise we let the
// Vulkan loader look, and when it finds no adapter we try Mesa lavapipe, then Chromium's
// SwiftShader, and say which one we picked. Imported only from Node entry points and tests.
//
// dawn.node waits for the GPU by polling: while any of its promises is pending (onSubmittedWorkDone, mapAsync,
// createComputePipelineAsync…) it re-queues a setImmediate that calls ProcessEvents, so the main thread spins at 100 %
// of a core for the whole wait. A CPU Vulkan driver (lavapipe, SwiftShader) runs the shaders on the same cores, so the
// spin took one of this machine's two cores from the GPU work: 1.3 s of main-thread CPU per 2.2 s tiny-preset step on
// SwiftShader, where the page (Chromium waits on the fence without spinning) took 1.0 s (docs/results-cpu.md §3).
// `throttleDawnPolling` naps between polls instead; MIRA_NODE_SPIN_WAIT=1 keeps dawn.node's spin (for comparisons).
import { existsSync } from 'node:fs';
import { acquireGpu, NODE_HINT, type GpuContext } from './context.ts';
import { WebGPUUnavailableError } from './errors.ts';

export const CPU_VULKAN_DRIVERS = [
  { name: 'Mesa lavapipe', icd: '/usr/share/vulkan/icd.d/lvp_icd.json' },
  { name: 'SwiftShader (Debian chromium)', icd: '/usr/lib/chromium/vk_swiftshader_icd.json' },
];

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };
let dawn: DawnModule | null = null;

async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    throw new WebGPUUnavailableError(`The 'webgpu' npm package (Dawn) could not be loaded: ${(e as Error).message}.`, 'Run npm ci.');
  }
  // GPUBufferUsage, GPUMapMode, GPUShaderStage… as in a browser.
  Object.assign(globalThis, dawn.globals);
  if (process.env.MIRA_NODE_SPIN_WAIT !== '1') throttleDawnPolling(dawn.globals);
  return dawn;
}

/** The methods whose promises keep dawn.node polling until they settle, per class in `dawn.globals`. */
const DAWN_ASYNC_METHODS: Record<string, string[]> = {
  GPU: ['requestAdapter'],
  GPUAdapter: ['requestDevice'],
  GPUDevice: ['createComputePipelineAsync', 'createRenderPipelineAsync', 'popErrorScope'],
  GPUQueue: ['onSubmittedWorkDone'],
  GPUBuffer: ['mapAsync'],
  GPUShaderModule: ['getCompilationInfo'],
};

/** The longest nap between two polls, and the fraction of the time already waited that one nap may take. */
const MAX_NAP_MS = 1;
const NAP_FRACTION = 1 / 8;

/**
 * While dawn.node has a promise pending, puts the main thread to sleep once per event-loop turn, for 1/8 of the time
 * waited so far (at most 1 ms): a short wait (a small readback on lavapipe) is polled almost as eagerly as before,
 * a long one (a training step) costs about a thousand polls a second instead of a spinning core, and a result is
 * seen at most 1/8 of its wait (or 1 ms) late. Atomics.wait is the sleep: it blocks this thread without a timer,
 * which Node allows outside the browser's main thread.
 */
export function throttleDawnPolling(globals: Record<string, unknown>): void {
  const marker = Symbol.for('mira.dawnPollingThrottled');
  const g = globalThis as Record<symbol, unknown>;
  if (g[marker]) return;
  g[marker] = true;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let pending = 0;
  let waitStart = 0;
  let napping = false;
  const nap = () => {
    if (pending === 0) {
      napping = false;
      return;
    }
    const waited = performance.now() - waitStart;
    Atomics.wait(cell, 0, 0, Math.min(MAX_NAP_MS, waited * NAP_FRACTION));
    setImmediate(nap);
  };
  const settled = () => {
    pending--;
  };
  for (const [cls, methods] of Object.entries(DAWN_ASYNC_METHODS)) {
    const proto = (globals[cls] as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    if (!proto) continue;
    for (const name of methods) {
      const original = proto[name];
      if (typeof original !== 'function') continue;
      proto[name] = function (this: unknown, ...args: unknown[]) {
        const result = (original as (...a: unknown[]) => unknown).apply(this, args);
        if (result instanceof Promise) {
          if (pending++ === 0) waitStart = performance.now();
          result.then(settled, settled);
          if (!napping) {
            napping = true;
            setImmediate(nap);
          }
        }
        return result;
      };
    }
  }
}

export interface NodeGpuResult {
  ctx: GpuContext;
  /** Which Vulkan driver we chose, or null when the loader's default found an adapter. */
  driver: string | null;
}

let shared: Promise<NodeGpuResult> | null = null;

/** One device per process (tests and the CLI share it). */
export function nodeGpu(): Promise<NodeGpuResult> {
  shared ??= acquireNodeGpu();
  return shared;
}

export async function acquireNodeGpu(): Promise<NodeGpuResult> {
  const d = await loadDawn();
  const explicit = process.env.VK_ICD_FILENAMES;
  const tries: { driver: string | null; icd?: string }[] = explicit
    ? [{ driver: `VK_ICD_FILENAMES=${explicit}` }]
    : [{ driver: null }, ...CPU_VULKAN_DRIVERS.filter((c) => existsSync(c.icd)).map((c) => ({ driver: c.name, icd: c.icd }))];
  const failures: string[] = [];
  for (const t of tries) {
    if (t.icd) process.env.VK_ICD_FILENAMES = t.icd;
    try {
      // Dawn quantises timestamps (to 2^16 ns) as browsers must; in Node the bench and profiler want them exact.
      const gpu = d.create(['disable-dawn-features=timestamp_quantization']);
      const ctx = await acquireGpu({ gpu, environment: 'node' });
      if (t.icd) console.error(`[gpu] no adapter from the default Vulkan drivers; using ${t.driver} (${t.icd})`);
      return { ctx, driver: t.driver };
    } catch (e) {
      failures.push(`${t.driver ?? 'default Vulkan drivers'}: ${(e as Error).message.split('. ')[0]}`);
    }
  }
  if (!explicit) delete process.env.VK_ICD_FILENAMES;
  throw new WebGPUUnavailableError(`No WebGPU adapter in Node (tried ${failures.join('; ')}).`, NODE_HINT);
}
