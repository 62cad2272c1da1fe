// What the store's slices share: the whole state's type (the union of the slices), the context a
// slice is built with (engine, frame batching, notices, the page's URL, the lifecycle machine),
// and the shape of a slice (its initial state and actions, the engine events it handles, what it
// clears when the engine restarts, what it applies at the next frame).
import type { TrainConfig } from '../../train/config.ts';
import type { EngineEvent, EngineRequest } from '../../worker/protocol.ts';
import type { ArenaSlice } from './arena-slice.ts';
import type { CheckpointsSlice } from './checkpoints-slice.ts';
import type { CollapseLabSlice } from './collapse-lab-slice.ts';
import type { DatasetSlice } from './dataset-slice.ts';
import type { ExplorerSlice } from './explorer-slice.ts';
import type { EmbeddingMapSlice } from './embedding-map-slice.ts';
import type { ExportsSlice } from './exports-slice.ts';
import type { GallerySlice } from './gallery-slice.ts';
import type { GpuSlice } from './gpu-slice.ts';
import type { LifecycleEffect, LifecycleInput } from './lifecycle.ts';
import type { NoticesSlice } from './notices-slice.ts';
import type { RunSlice } from './run-slice.ts';
import type { SettingsSlice } from './settings-slice.ts';

/** The page's whole state and its actions. */
export type AppState = GpuSlice & SettingsSlice & DatasetSlice & RunSlice & CheckpointsSlice & ExplorerSlice & CollapseLabSlice & ArenaSlice & GallerySlice & EmbeddingMapSlice & ExportsSlice & NoticesSlice;

export type EngineEventType = EngineEvent['type'];

/** One handler per engine event type; each slice supplies the rows for the events it owns. */
export type EventTable = { [K in EngineEventType]: (event: Extract<EngineEvent, { type: K }>) => void };

/** Requests a frame (the page's requestAnimationFrame, a manual flush in tests); returns a cancel. */
export type FrameScheduler = (flush: () => void) => () => void;

/** The page around the store: its URL, downloads, and whether it has WebGPU at all. */
export interface PageEnvironment {
  /** The query string now (location.search). */
  readSearch(): string;
  /** Replaces the query string without a navigation. */
  replaceSearch(search: string): void;
  /** Saves bytes as a file (the browser's download). */
  download(fileName: string, mime: string, bytes: Uint8Array): void;
  /** Why the page has no WebGPU before any worker is started, or null when navigator.gpu is there. */
  missingWebGpu(): string | null;
}

export interface StoreContext {
  get(): AppState;
  set(patch: Partial<AppState>): void;
  /** Sends a request to the current engine (dropped while there is none). */
  send(request: EngineRequest): void;
  /** A fresh request id. */
  nextId(): number;
  /** Applies what the slices gathered at the next frame. */
  schedule(): void;
  /** Applies it now (before an event that must see it). */
  flush(): void;
  notice(kind: 'error' | 'info', text: string): void;
  /** Feeds the lifecycle machine (./lifecycle.ts), carries out its effects and returns them. */
  advance(input: LifecycleInput): LifecycleEffect[];
  /** Writes the configuration into the URL (a link reproduces the run). */
  writeUrl(): void;
  /** Starts the engine the first time. */
  bootEngine(): void;
  /** Clears the charts and asks the engine for a fresh trainer from the page's configuration. */
  newRun(): void;
  /** Clears the charts and makes `config` the page's configuration (a resumed or loaded checkpoint's), in the URL too. */
  adoptConfig(config: TrainConfig): void;
  page: PageEnvironment;
}

/** A slice: its part of the state (with its actions) and the engine events it owns. */
export interface Slice<S, E extends EngineEventType = never> {
  state: S;
  on: Pick<EventTable, E>;
  /** Gathered updates to apply at the next frame (called by flush; returns nothing when nothing is pending). */
  frame?: (s: AppState) => Partial<AppState> | null;
  /** The slice's state when the engine restarts on a new device. */
  restart?: (s: AppState) => Partial<AppState>;
}
