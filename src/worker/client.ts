// The UI's handle on the engine worker: typed send, typed events, and a callback for a worker
// that dies or never starts (so the page can say so instead of waiting forever).
import type { EngineEvent, EngineRequest } from './protocol.ts';

export interface EngineClient {
  send(request: EngineRequest): void;
  dispose(): void;
}

/** Starts an engine and wires its events (startEngine; a fake in the store's tests). */
export type EngineConnector = (onEvent: (event: EngineEvent) => void, onCrash: (message: string) => void) => EngineClient;

export function startEngine(onEvent: (event: EngineEvent) => void, onCrash: (message: string) => void): EngineClient {
  // This exact `new Worker(new URL(…, import.meta.url))` form is what Vite bundles as a worker.
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'mira-engine' });
  worker.addEventListener('message', (ev: MessageEvent<EngineEvent>) => onEvent(ev.data));
  worker.addEventListener('error', (ev: ErrorEvent) => {
    ev.preventDefault();
    onCrash(ev.message || 'the engine worker failed to load');
  });
  worker.addEventListener('messageerror', () => onCrash('a message from the engine worker could not be decoded'));
  return {
    send: (request) => worker.postMessage(request),
    dispose: () => worker.terminate(),
  };
}
