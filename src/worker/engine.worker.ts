// The engine worker: owns the GPU device and answers the UI's requests (./protocol.ts).
// The UI never touches WebGPU; everything GPU-side lives behind these messages: the self-test,
// datasets, the training session (./session.ts), the fixed-point explorer (./explorer.ts), the
// collapse lab (./lab.ts) and the method arena (./arena.ts).
import { acquireGpu, adapterLabel, type GpuContext } from '../gpu/context.ts';
import { WebGPUUnavailableError } from '../gpu/errors.ts';
import { DatasetError } from '../data/dataset.ts';
import { deleteCheckpoint } from './checkpoints.ts';
import { datasetInfo, loadDatasetSource, probeServed } from './datasets.ts';
import { Explorer, type ExplorerParams } from './explorer.ts';
import { makeSyntheticLogits } from './explorer-cpu.ts';
import { MethodArena } from './arena.ts';
import { CollapseLab } from './lab.ts';
import type { AdapterStatus, EngineEvent, EngineRequest } from './protocol.ts';
import { gemmSelfTest } from './selftest.ts';
import { describe, Session } from './session.ts';

declare const self: DedicatedWorkerGlobalScope;

let gpu: Promise<GpuContext> | null = null;
let session: Session | null = null;
let explorer: Explorer | null = null;
let lab: CollapseLab | null = null;
let arena: MethodArena | null = null;
let simulatedLoss = false;
/** Bumped by every explorer request, so a running "to convergence" stops when another arrives. */
let explorerTicket = 0;
/** Bumped by every slider change: only the latest τ/β/ε is solved. */
let paramsTicket = 0;
let explorerQueue: Promise<unknown> = Promise.resolve();

function post(event: EngineEvent, transfer: Transferable[] = []): void {
  self.postMessage(event, transfer);
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
  const t0 = performance.now();
  gpu ??= acquireGpu({ environment: 'browser', label: 'mira-engine' });
  try {
    const ctx = await gpu;
    const gpuMs = Math.round(performance.now() - t0);
    ctx.device.lost.then((info) => {
      if (info.reason !== 'destroyed' || simulatedLoss) {
        session?.halt();
        lab?.stop();
        arena?.stop();
        post({ type: 'device-lost', message: `${info.reason}: ${info.message || 'no details'}` });
      }
    });
    session ??= new Session(ctx, post);
    session.startup.gpu_ms ??= gpuMs;
    explorer ??= new Explorer(ctx);
    lab ??= new CollapseLab(ctx, post);
    arena ??= new MethodArena(ctx, post);
    post({ type: 'ready', adapter: adapterStatus(ctx) });
  } catch (e) {
    if (e instanceof WebGPUUnavailableError) post({ type: 'unavailable', reason: e.reason, hint: e.hint });
    else post({ type: 'failed', error: describe(e) });
  }
}

async function ready(): Promise<{ ctx: GpuContext; session: Session; explorer: Explorer; lab: CollapseLab; arena: MethodArena }> {
  if (!gpu) throw new Error('the engine is not initialised (send "init" first)');
  const ctx = await gpu;
  if (!session || !explorer || !lab || !arena) throw new Error('the engine is not initialised');
  return { ctx, session, explorer, lab, arena };
}

/** Runs explorer work one request at a time; `long` work may be cut short by the next request. */
function explorerTask(fn: (ticket: number) => Promise<void>): Promise<void> {
  const ticket = ++explorerTicket;
  const run = explorerQueue.then(async () => {
    post({ type: 'explorer-busy', busy: true });
    try {
      await fn(ticket);
    } catch (e) {
      post({ type: 'explorer-error', message: describe(e) });
    } finally {
      if (ticket === explorerTicket) post({ type: 'explorer-busy', busy: false });
    }
  });
  explorerQueue = run;
  return run;
}

function postExplorer(ex: Explorer): void {
  const state = ex.state();
  post({ type: 'explorer', state }, [state.mira.targets.buffer as ArrayBuffer, state.sinkhorn.targets.buffer as ArrayBuffer]);
}

async function handle(req: EngineRequest): Promise<void> {
  switch (req.type) {
    case 'init':
      return init();
    case 'gemm-check': {
      const { ctx } = await ready();
      const result = await gemmSelfTest(ctx, req.size, 'worker');
      post({ type: 'gemm-check', id: req.id, result });
      return;
    }
    case 'probe-datasets':
      post({ type: 'datasets-served', files: await probeServed() });
      return;
    case 'load-dataset': {
      const { session } = await ready();
      try {
        const t0 = performance.now();
        const data = await loadDatasetSource(req.source, (phase, file, loaded, total) => post({ type: 'dataset-progress', id: req.id, phase, file, loaded, total }));
        session.startup.dataset_ms = Math.round(performance.now() - t0);
        session.setData(data);
        post({ type: 'dataset', id: req.id, info: datasetInfo(data) });
      } catch (e) {
        post({ type: 'dataset-error', id: req.id, file: e instanceof DatasetError ? e.file : null, message: e instanceof DatasetError ? e.detail : describe(e) });
      }
      return;
    }
    case 'configure':
      return (await ready()).session.configure(req.config, req.resume);
    case 'reset':
      return (await ready()).session.configure(req.config, false);
    case 'play':
      (await ready()).session.play();
      return;
    case 'pause':
      (await ready()).session.pause();
      return;
    case 'step-batch':
      return (await ready()).session.stepBatch(req.count ?? 1);
    case 'evaluate-knn':
      return (await ready()).session.evaluateKnn();
    case 'explorer-load': {
      const { session, explorer } = await ready();
      const params: ExplorerParams = { tau: req.tau, beta: req.beta, eps: req.eps };
      return explorerTask(async () => {
        if (req.source.kind === 'batch') {
          const b = await session.latestLogits();
          if (!b) throw new Error('there is no batch yet: train at least one step, or use a synthetic batch');
          await explorer.load(b.logits, b.B, b.K, req.source, `teacher logits of step ${b.step} (${b.B}×${b.K})`, params);
        } else {
          const { B, K, imbalance, seed } = req.source;
          const logits = makeSyntheticLogits(B, K, imbalance, seed);
          await explorer.load(logits, B, K, req.source, `synthetic ${B}×${K}, imbalance ${imbalance}`, params);
        }
        postExplorer(explorer);
      });
    }
    case 'explorer-params': {
      const { explorer } = await ready();
      const mine = ++paramsTicket;
      return explorerTask(async () => {
        if (!explorer.loaded || mine !== paramsTicket) return; // a newer value supersedes this one
        await explorer.setParams({ tau: req.tau, beta: req.beta, eps: req.eps });
        postExplorer(explorer);
      });
    }
    case 'explorer-step': {
      const { explorer } = await ready();
      return explorerTask(async () => {
        await explorer.step(1);
        postExplorer(explorer);
      });
    }
    case 'explorer-converge': {
      const { explorer } = await ready();
      return explorerTask(async (ticket) => {
        let last = 0;
        await explorer.converge(
          () => {
            const now = performance.now();
            if (now - last > 150) {
              last = now;
              postExplorer(explorer);
            }
          },
          () => ticket !== explorerTicket,
        );
        postExplorer(explorer);
      });
    }
    case 'explorer-reset': {
      const { explorer } = await ready();
      return explorerTask(async () => {
        await explorer.reset();
        postExplorer(explorer);
      });
    }
    case 'explorer-verify': {
      const { explorer } = await ready();
      return explorerTask(async () => {
        await explorer.setVerify(req.on);
        if (explorer.loaded) postExplorer(explorer);
      });
    }
    case 'lab-start': {
      const { session, lab } = await ready();
      if (lab.running) return;
      if (!session.data) throw new Error('load a dataset before starting the collapse lab');
      session.suspend();
      // Runs outside the session's queue but after whatever it is doing.
      await session.exclusive(() => lab.run(session.data!, req.config, req.steps));
      return;
    }
    case 'lab-stop':
      (await ready()).lab.stop();
      return;
    case 'arena-start': {
      const { session, arena } = await ready();
      if (arena.running) return;
      if (!session.data) throw new Error('load a dataset before starting the method arena');
      session.suspend();
      // Claimed at once, so a second start while this one waits for the session's queue is ignored.
      arena.running = true;
      try {
        // Like the lab: outside the session's queue but after whatever it is doing.
        await session.exclusive(() => arena.run(session.data!, req.config, req.methods, req.steps));
      } finally {
        arena.running = false;
      }
      return;
    }
    case 'arena-pause':
      (await ready()).arena.pause();
      return;
    case 'arena-resume':
      (await ready()).arena.resume();
      return;
    case 'arena-stop':
      (await ready()).arena.stop();
      return;
    case 'gallery':
      return (await ready()).session.gallery(req.id, req.clusters, req.perCluster);
    case 'embedding-map':
      return (await ready()).session.embeddingMap(req.id, req.projection);
    case 'export': {
      const { session } = await ready();
      try {
        await session.exportFile(req.id, req.what);
      } catch (e) {
        post({ type: 'export-error', id: req.id, message: describe(e) });
      }
      return;
    }
    case 'checkpoint-query':
      return (await ready()).session.checkpointQuery();
    case 'import-checkpoint':
      return (await ready()).session.importCheckpoint(req.id, req.files, req.config);
    case 'checkpoint-discard':
      await deleteCheckpoint();
      post({ type: 'checkpoint-info', info: null });
      return;
    case 'simulate-device-loss': {
      const { ctx } = await ready();
      simulatedLoss = true;
      ctx.device.destroy();
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
