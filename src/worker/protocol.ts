// The messages between the UI thread and the engine worker, which owns the GPU device.
// Requests go UI → worker, events go worker → UI; both are discriminated unions on `type`.
// Everything here must survive structured cloning (plain data, typed arrays, no classes).
// Extend by adding variants; never change the shape of an existing `type`.
import type { GemmVariant } from '../gpu/gemm.ts';

/** What the status bar shows about the adapter. */
export interface AdapterStatus {
  /** One line naming the adapter, e.g. "google swiftshader" (emulation is said by isSoftware). */
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU emulation (SwiftShader, lavapipe, WARP): correct but slow. */
  isSoftware: boolean;
  features: { timestampQuery: boolean; shaderF16: boolean; subgroups: boolean };
}

export interface GemmCheckCase {
  variant: GemmVariant;
  /** max |gpu − cpu float64| over all outputs (Infinity if the GPU produced NaN). */
  maxError: number;
  /** Submit to readback, pipeline compilation excluded. */
  ms: number;
  pass: boolean;
}

export interface GemmCheckResult {
  M: number;
  N: number;
  K: number;
  tolerance: number;
  cases: GemmCheckCase[];
  /** The worst case's error. */
  maxError: number;
  pass: boolean;
  /** Where the GPU work ran; always "worker" in the app. */
  ranIn: 'worker' | 'window' | 'node';
}

export type EngineRequest =
  /** Acquire the device; answered by `ready` or `unavailable`. */
  | { type: 'init' }
  /** Run the GEMM self-test; answered by `gemm-check` or `failed` with the same id. */
  | { type: 'gemm-check'; id: number; size: number };

export type EngineEvent =
  | { type: 'ready'; adapter: AdapterStatus }
  /** No WebGPU here: `reason` says what is missing, `hint` what to do (WebGPUUnavailableError). */
  | { type: 'unavailable'; reason: string; hint: string }
  | { type: 'gemm-check'; id: number; result: GemmCheckResult }
  /** A request (or, without id, the worker itself) failed. */
  | { type: 'failed'; id?: number; error: string }
  | { type: 'device-lost'; message: string };
