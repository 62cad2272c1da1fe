// The React binding: the page's one store is handed down by a provider (main.tsx creates it);
// `useApp(selector)` reads it through zustand's useStore, so components re-render only when their
// selection changes.
import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { PlaygroundStore } from './create.ts';
import { sameConfig } from './settings-slice.ts';
import type { AppState } from './types.ts';

const PlaygroundStoreContext = createContext<PlaygroundStore | null>(null);

export function PlaygroundStoreProvider({ store, children }: { store: PlaygroundStore; children: ReactNode }) {
  return <PlaygroundStoreContext.Provider value={store}>{children}</PlaygroundStoreContext.Provider>;
}

/** The store itself, for event handlers that read the state once (getState) instead of subscribing. */
export function useStoreApi(): PlaygroundStore {
  const store = useContext(PlaygroundStoreContext);
  if (!store) throw new Error('useApp needs a <PlaygroundStoreProvider store={…}> above the component (main.tsx creates the store and wraps <App />).');
  return store;
}

export function useApp<T>(selector: (state: AppState) => T): T {
  return useStore(useStoreApi(), selector);
}

/** The configuration differs from the running trainer's (a Reset applies it). */
export function selectPendingChanges(s: AppState): boolean {
  return s.train.config !== null && !sameConfig(s.train.config, s.config);
}

export function usePendingChanges(): boolean {
  return useApp(selectPendingChanges);
}
