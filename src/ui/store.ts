// The app's state (zustand). The store owns the engine worker's client: components read state
// and call actions; they never see the worker or the GPU.
import { create } from 'zustand';
import { BROWSER_HINT } from '../gpu/context.ts';
import { startEngine, type EngineClient } from '../worker/client.ts';
import type { AdapterStatus, EngineEvent, GemmCheckResult } from '../worker/protocol.ts';

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

export interface AppState {
  gpu: GpuState;
  gemmCheck: CheckState;
  /** Starts the engine worker once; later calls do nothing. */
  start(): void;
  runGemmCheck(): void;
}

/** Size of the self-test GEMM (M = N = K). */
export const GEMM_CHECK_SIZE = 64;

let engine: EngineClient | null = null;
let nextId = 1;

/** Why this page has no WebGPU, before any worker is started. */
function pageWithoutWebGpu(): string | null {
  if (typeof navigator !== 'undefined' && navigator.gpu) return null;
  if (typeof window !== 'undefined' && !window.isSecureContext) {
    return 'This page is not a secure context, so the browser hides WebGPU (navigator.gpu is missing). Open it over https or from http://localhost.';
  }
  return 'This browser has no WebGPU (navigator.gpu is missing).';
}

export const useApp = create<AppState>()((set, get) => {
  function onEvent(ev: EngineEvent): void {
    switch (ev.type) {
      case 'ready':
        set({ gpu: { status: 'ready', adapter: ev.adapter } });
        break;
      case 'unavailable':
        set({ gpu: { status: 'unavailable', reason: ev.reason, hint: ev.hint } });
        break;
      case 'gemm-check': {
        const c = get().gemmCheck;
        if (c.status === 'running' && c.id === ev.id) set({ gemmCheck: { status: 'done', result: ev.result } });
        break;
      }
      case 'failed': {
        const c = get().gemmCheck;
        if (ev.id !== undefined && c.status === 'running' && c.id === ev.id) set({ gemmCheck: { status: 'error', error: ev.error } });
        else if (get().gpu.status === 'starting') set({ gpu: { status: 'failed', error: ev.error } });
        else console.warn(`[engine] ${ev.error}`);
        break;
      }
      case 'device-lost':
        set({ gpu: { status: 'failed', error: `The GPU device was lost (${ev.message}). Reload the page.` } });
        break;
    }
  }

  function onCrash(message: string): void {
    set({ gpu: { status: 'failed', error: `The engine worker stopped: ${message}` } });
    const c = get().gemmCheck;
    if (c.status === 'running') set({ gemmCheck: { status: 'error', error: message } });
  }

  return {
    gpu: { status: 'starting' },
    gemmCheck: { status: 'idle' },

    start() {
      if (engine || get().gpu.status !== 'starting') return;
      const missing = pageWithoutWebGpu();
      if (missing) {
        set({ gpu: { status: 'unavailable', reason: missing, hint: BROWSER_HINT } });
        return;
      }
      try {
        engine = startEngine(onEvent, onCrash);
        engine.send({ type: 'init' });
      } catch (e) {
        set({ gpu: { status: 'failed', error: `The engine worker could not be started: ${(e as Error).message}` } });
      }
    },

    runGemmCheck() {
      if (!engine || get().gpu.status !== 'ready' || get().gemmCheck.status === 'running') return;
      const id = nextId++;
      set({ gemmCheck: { status: 'running', id } });
      engine.send({ type: 'gemm-check', id, size: GEMM_CHECK_SIZE });
    },
  };
});
