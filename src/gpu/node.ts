// Node-only: a `GPU` object from Dawn (the `webgpu` npm package). On a machine without a GPU,
// Dawn needs a CPU Vulkan driver. We respect VK_ICD_FILENAMES when set; otherwise we let the
// Vulkan loader look, and when it finds no adapter we try Mesa lavapipe, then Chromium's
// SwiftShader, and say which one we picked. Imported only from Node entry points and tests.
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
  return dawn;
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
