// The engine worker: owns the GPU device and answers the UI's requests (./protocol.ts).
// The UI never touches WebGPU; everything GPU-side lives behind these messages.
import { acquireGpu, adapterLabel, type GpuContext } from '../gpu/context.ts';
import { WebGPUUnavailableError } from '../gpu/errors.ts';
import type { AdapterStatus, EngineEvent, EngineRequest } from './protocol.ts';
import { gemmSelfTest } from './selftest.ts';

declare const self: DedicatedWorkerGlobalScope;

let gpu: Promise<GpuContext> | null = null;

function post(event: EngineEvent): void {
  self.postMessage(event);
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}


function adapterStatus(ctx: GpuContext): AdapterStatus {
  const { info } = ctx;
  return {
    // Without the "(CPU emulation)" suffix: the status bar shows that as a badge.
    name: adapterLabel({ ...info, isSoftware: false }),
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    isSoftware: info.isSoftware,
    features: { ...ctx.features },
  };
}

async function init(): Promise<void> {
  // environment: 'browser' so the hint is the browser's even when navigator.gpu is missing.
  gpu ??= acquireGpu({ environment: 'browser', label: 'mira-engine' });
  try {
    const ctx = await gpu;
    ctx.device.lost.then((info) => {
      if (info.reason !== 'destroyed') post({ type: 'device-lost', message: `${info.reason}: ${info.message || 'no details'}` });
    });
    post({ type: 'ready', adapter: adapterStatus(ctx) });
  } catch (e) {
    if (e instanceof WebGPUUnavailableError) post({ type: 'unavailable', reason: e.reason, hint: e.hint });
    else post({ type: 'failed', error: describe(e) });
  }
}

async function handle(req: EngineRequest): Promise<void> {
  switch (req.type) {
    case 'init':
      return init();
    case 'gemm-check': {
      if (!gpu) throw new Error('the engine is not initialised (send "init" first)');
      const result = await gemmSelfTest(await gpu, req.size, 'worker');
      post({ type: 'gemm-check', id: req.id, result });
      return;
    }
  }
}

self.addEventListener('message', (ev: MessageEvent<EngineRequest>) => {
  const req = ev.data;
  handle(req).catch((e: unknown) => post({ type: 'failed', id: 'id' in req ? req.id : undefined, error: describe(e) }));
});

self.addEventListener('unhandledrejection', (ev) => {
  post({ type: 'failed', error: `unhandled: ${describe(ev.reason)}` });
});
