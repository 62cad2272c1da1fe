// Device acquisition, the same in the browser (navigator.gpu) and in Node (the `webgpu` npm
// package, see ./node.ts). Requests the adapter's own maxima for the limits that bound our
// buffers and tiles, and the optional features when present (never required).
import { WebGPUUnavailableError } from './errors.ts';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU emulation (SwiftShader, lavapipe/llvmpipe, WARP): slow, and barriers are costly. */
  isSoftware: boolean;
}

export interface GpuFeatures {
  timestampQuery: boolean;
  shaderF16: boolean;
  subgroups: boolean;
}

export interface GpuContext {
  /** The GPU object the adapter came from. Held so it outlives the device (Dawn in Node
   *  tears its instance down when this is garbage-collected, crashing later calls). */
  gpu: GPU;
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterSummary;
  features: GpuFeatures;
  limits: GPUSupportedLimits;
  /** One line naming the adapter, for logs, benches and the status bar. */
  adapterName: string;
  /** Set when the device is lost; every later use should stop and say so. */
  lost: GPUDeviceLostInfo | null;
  /** The latest uncaptured errors (validation errors outside an error scope), at most 50. */
  uncaptured: string[];
  /** How many uncaptured errors there have been in all (compare before/after some work). */
  uncapturedCount: number;
}

const LIMITS_WANTED = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
] as const;

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|warp|basic render/i;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const i = adapter.info ?? ({} as GPUAdapterInfo);
  const vendor = i.vendor ?? '';
  const architecture = i.architecture ?? '';
  const device = i.device ?? '';
  const description = i.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`;
  const fallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor,
    architecture,
    device,
    description,
    isSoftware: fallback || SOFTWARE_ADAPTER.test(text) || architecture === 'swiftshader',
  };
}

export function adapterLabel(s: AdapterSummary): string {
  const main = s.description || [s.vendor, s.architecture, s.device].filter(Boolean).join(' ') || 'unknown adapter';
  return s.isSoftware ? `${main} (CPU emulation)` : main;
}

export interface AcquireOptions {
  /** `navigator.gpu` in the browser, `createNodeGpu()` in Node. Defaults to `navigator.gpu`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  label?: string;
  /** Where we run, for the hint in the error when there is no adapter. */
  environment?: 'browser' | 'node';
}

export const BROWSER_HINT =
  'Use Chrome or Edge 113 or newer on a machine with a supported GPU (chrome://gpu shows WebGPU status); ' +
  'on Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan. ' +
  'Headless Chromium needs --enable-unsafe-webgpu.';

export const NODE_HINT =
  'In Node, Dawn needs a Vulkan driver. On a machine without a GPU install Mesa lavapipe from ' +
  'bookworm-backports (bash scripts/install-system-deps.sh) or Debian chromium (its SwiftShader), and ' +
  'optionally set VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json.';

export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuContext> {
  const isNode = typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;
  const env = options.environment ?? (isNode ? 'node' : 'browser');
  const hint = env === 'browser' ? BROWSER_HINT : NODE_HINT;
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? (navigator as Navigator).gpu : undefined);
  if (!gpu) throw new WebGPUUnavailableError('This environment has no WebGPU (navigator.gpu is missing).', hint);

  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new WebGPUUnavailableError(`requestAdapter() failed: ${(e as Error).message}.`, hint);
  }
  if (!adapter) throw new WebGPUUnavailableError('WebGPU is present but no GPU adapter is available.', hint);

  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_WANTED) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const has = (f: string) => adapter!.features.has(f);
  const requiredFeatures: GPUFeatureName[] = [];
  for (const f of ['timestamp-query', 'shader-f16', 'subgroups']) if (has(f)) requiredFeatures.push(f as GPUFeatureName);

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: options.label ?? 'mira-device', requiredLimits, requiredFeatures });
  } catch (e) {
    throw new WebGPUUnavailableError(`requestDevice() failed: ${(e as Error).message}.`, hint);
  }
  const info = summarizeAdapter(adapter);
  const ctx: GpuContext = {
    gpu,
    device,
    adapter,
    info,
    features: {
      timestampQuery: device.features.has('timestamp-query'),
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
    },
    limits: device.limits,
    adapterName: adapterLabel(info),
    lost: null,
    uncaptured: [],
    uncapturedCount: 0,
  };
  device.lost.then((lost) => {
    ctx.lost = lost;
  });
  device.addEventListener('uncapturederror', (ev) => recordGpuError(ctx, (ev as GPUUncapturedErrorEvent).error.message));
  return ctx;
}

/** Keeps the latest 50 asynchronous GPU errors and counts them all. */
export function recordGpuError(ctx: GpuContext, message: string): void {
  ctx.uncaptured.push(message);
  ctx.uncapturedCount++;
  if (ctx.uncaptured.length > 50) ctx.uncaptured.shift();
}

/** Throws if the device was lost, with what to do. */
export function assertAlive(ctx: GpuContext): void {
  if (ctx.lost) {
    throw new WebGPUUnavailableError(
      `The GPU device was lost (${ctx.lost.reason}: ${ctx.lost.message}).`,
      'Reload, or resume from the last checkpoint.',
    );
  }
}
