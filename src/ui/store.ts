// The app's state, in slices under ./store/: the factory (createPlaygroundStore), the startup /
// resume / device-loss state machine (./store/lifecycle.ts), the React binding and the types the
// components use. Components import from here.
export { createPlaygroundStore, type PlaygroundStore, type PlaygroundStoreOptions } from './store/create.ts';
export { PlaygroundStoreProvider, selectPendingChanges, useApp, usePendingChanges, useStoreApi } from './store/react.tsx';
export { deviceLostMessage, resumeOffer, type Lifecycle } from './store/lifecycle.ts';
export { GEMM_CHECK_SIZE, type CheckState, type GpuState } from './store/gpu-slice.ts';
export type { DatasetState } from './store/dataset-slice.ts';
export type { ExplorerUi } from './store/explorer-slice.ts';
export type { GalleryState } from './store/gallery-slice.ts';
export type { LabState } from './store/collapse-lab-slice.ts';
export type { Notice } from './store/notices-slice.ts';
export type { TrainError } from './store/run-slice.ts';
export type { Tab } from './store/settings-slice.ts';
export type { AppState, FrameScheduler, PageEnvironment } from './store/types.ts';
