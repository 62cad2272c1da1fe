// The adapter and the engine's health: starting, ready (which adapter; the first one picks the
// default preset), no WebGPU, failed; the GEMM self-test; the lifecycle machine's state
// (./lifecycle.ts), fed here by the engine's ready / unavailable / failed / device-lost events,
// which this slice owns; and the demo hook that loses the device.
import { BROWSER_HINT } from '../../gpu/context.ts';
import type { AdapterStatus, GemmCheckResult } from '../../worker/protocol.ts';
import { defaultPreset, PRESETS } from '../presets.ts';
import { INITIAL_LIFECYCLE, type Lifecycle } from './lifecycle.ts';
import type { AppState, Slice, StoreContext } from './types.ts';

export type GpuState =
  | { status: 'starting' }
  | { status: 'ready'; adapter: AdapterStatus }
  | { status: 'unavailable'; reason: string; hint: string }
  | { status: 'failed'; error: string };

export type CheckState =
  | { status: 'idle' }
  | { status: 'running'; id: number }
  | { status: 'done'; result: GemmCheckResult }
  | { status: 'error'; error: string };

export interface GpuSlice {
  gpu: GpuState;
  gemmCheck: CheckState;
  /** Startup, the resume offer and device-loss recovery (./lifecycle.ts). */
  lifecycle: Lifecycle;
  /** Starts the engine worker once; later calls do nothing. */
  start(): void;
  runGemmCheck(): void;
  /** Test and demo hook: destroys the device as if it were lost. */
  simulateDeviceLoss(): void;
}

/** Size of the self-test GEMM (M = N = K). */
export const GEMM_CHECK_SIZE = 64;

export function createGpuSlice(ctx: StoreContext): Slice<GpuSlice, 'ready' | 'unavailable' | 'gemm-check' | 'failed' | 'device-lost'> {
  let started = false;
  return {
    state: {
      gpu: { status: 'starting' },
      gemmCheck: { status: 'idle' },
      lifecycle: INITIAL_LIFECYCLE,

      start() {
        if (started || ctx.get().gpu.status !== 'starting') return;
        started = true;
        const missing = ctx.page.missingWebGpu();
        if (missing) {
          ctx.set({ gpu: { status: 'unavailable', reason: missing, hint: BROWSER_HINT } });
          ctx.advance({ type: 'engine-failed', error: missing });
          return;
        }
        ctx.bootEngine();
      },

      runGemmCheck() {
        const s = ctx.get();
        if (s.gpu.status !== 'ready' || s.gemmCheck.status === 'running') return;
        const id = ctx.nextId();
        ctx.set({ gemmCheck: { status: 'running', id } });
        ctx.send({ type: 'gemm-check', id, size: GEMM_CHECK_SIZE });
      },

      simulateDeviceLoss() {
        ctx.send({ type: 'simulate-device-loss' });
      },
    },

    on: {
      ready(ev) {
        const s = ctx.get();
        const patch: Partial<AppState> = { gpu: { status: 'ready', adapter: ev.adapter } };
        // The first adapter picks the default preset, unless the URL named a configuration.
        if (s.lifecycle.state === 'starting' && !s.configFromUrl) {
          const preset = defaultPreset(ev.adapter.isSoftware);
          patch.preset = preset;
          patch.config = { ...PRESETS[preset].config, dataset: s.config.dataset };
        }
        ctx.set(patch);
        ctx.writeUrl();
        ctx.advance({ type: 'engine-ready' });
        ctx.send({ type: 'checkpoint-query' });
        ctx.send({ type: 'probe-datasets' });
      },
      unavailable(ev) {
        ctx.set({ gpu: { status: 'unavailable', reason: ev.reason, hint: ev.hint } });
        ctx.advance({ type: 'engine-failed', error: ev.reason });
      },
      'gemm-check'(ev) {
        const c = ctx.get().gemmCheck;
        if (c.status === 'running' && c.id === ev.id) ctx.set({ gemmCheck: { status: 'done', result: ev.result } });
      },
      failed(ev) {
        const c = ctx.get().gemmCheck;
        if (ev.id !== undefined && c.status === 'running' && c.id === ev.id) ctx.set({ gemmCheck: { status: 'error', error: ev.error } });
        else if (ctx.get().gpu.status === 'starting') {
          ctx.set({ gpu: { status: 'failed', error: ev.error } });
          ctx.advance({ type: 'engine-failed', error: ev.error });
        } else ctx.notice('error', ev.error);
      },
      'device-lost'(ev) {
        ctx.flush();
        ctx.set({ train: { ...ctx.get().train, phase: 'idle' } });
        ctx.advance({ type: 'device-lost', message: ev.message });
        ctx.send({ type: 'checkpoint-query' });
      },
    },

    restart: () => ({ gpu: { status: 'starting' } }),
  };
}
