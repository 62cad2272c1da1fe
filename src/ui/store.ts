// The app's state (zustand). The store owns the engine worker's client: components read state
// and call actions; they never see the worker or the GPU. Frequent events (metrics, status,
// marginals, lab points, dataset progress) are gathered and applied at most once per animation
// frame, so the page stays responsive however fast the worker streams.
import { create } from 'zustand';
import { BROWSER_HINT } from '../gpu/context.ts';
import type { TrainConfig } from '../train/config.ts';
import type { StepMetrics } from '../train/metric-layout.ts';
import type { MethodId as Method } from '../methods/registry.ts';
import { startEngine, type EngineClient } from '../worker/client.ts';
import { appendHistory, emptyHistory, historyPoints, type History, type Point } from '../worker/history.ts';
import type {
  AdapterStatus,
  CheckpointInfo,
  DatasetInfo,
  DatasetPhase,
  DatasetSource,
  EngineEvent,
  EngineRequest,
  ExplorerSource,
  ExplorerState,
  ExportKind,
  GalleryResult,
  GemmCheckResult,
  KnnPoint,
  LabPoint,
  TrainErrorKind,
  TrainStatus,
} from '../worker/protocol.ts';
import { collapseWarnings, type CollapseWarning, type Peak } from './collapse.ts';
import { defaultPreset, PRESETS, type PresetName } from './presets.ts';
import { decodeUrlState, encodeUrlState } from './url-state.ts';

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

export interface DatasetState {
  status: 'none' | 'loading' | 'ready';
  info: DatasetInfo | null;
  /** What is being read now. */
  progress: { phase: DatasetPhase; file: string; loaded: number; total: number } | null;
  /** The latest failed load (the loaded dataset, if any, is kept). */
  error: { file: string | null; message: string } | null;
  /** Files served under /datasets/ besides the bundled sample (e.g. the CIFAR-10 tarball). */
  served: string[];
}

export interface TrainError {
  kind: TrainErrorKind;
  message: string;
  metric?: string;
  step?: number;
}

export interface ExplorerUi {
  state: ExplorerState | null;
  busy: boolean;
  error: string | null;
  verify: boolean;
  tau: number;
  beta: number;
  eps: number;
  source: 'batch' | 'synthetic';
  synthetic: { B: number; K: number; imbalance: number; seed: number };
}

export interface LabState {
  running: boolean;
  step: number;
  steps: number;
  detail: string | null;
  error: string | null;
  series: Record<Method, LabPoint[]>;
}

export interface GalleryState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  result: GalleryResult | null;
  error: string | null;
}

export type Tab = 'dashboard' | 'explorer' | 'lab' | 'gallery';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

export interface AppState {
  gpu: GpuState;
  gemmCheck: CheckState;
  tab: Tab;
  preset: PresetName;
  config: TrainConfig;
  /** The URL named a configuration (else the adapter picks the default preset). */
  configFromUrl: boolean;
  dataset: DatasetState;
  train: TrainStatus;
  trainError: TrainError | null;
  /** Downsampled records (≤ 500 points) for the charts. */
  series: Point[];
  latest: StepMetrics | null;
  /** Highest values seen this run, for collapse warnings. */
  peak: Peak | null;
  warnings: CollapseWarning[];
  knn: KnnPoint[];
  knnInit: number | null;
  marginal: { step: number; sorted: number[] } | null;
  checkpoint: { info: CheckpointInfo | null; queried: boolean; offer: boolean; lastSaved: { step: number; savedAt: number } | null };
  deviceLost: string | null;
  explorer: ExplorerUi;
  lab: LabState;
  gallery: GalleryState;
  notices: Notice[];

  /** Starts the engine worker once; later calls do nothing. */
  start(): void;
  runGemmCheck(): void;
  setTab(tab: Tab): void;
  setPreset(name: PresetName): void;
  setParam<K extends keyof TrainConfig>(key: K, value: TrainConfig[K]): void;
  loadDataset(source: DatasetSource): void;
  play(): void;
  pause(): void;
  togglePlay(): void;
  stepBatch(): void;
  reset(): void;
  evaluateKnn(): void;
  resumeCheckpoint(): void;
  startFresh(): void;
  recoverDevice(): void;
  dismissTrainError(): void;
  dismissDatasetError(): void;
  dismissNotice(id: number): void;
  exportFile(what: ExportKind): void;
  explorerLoad(source?: 'batch' | 'synthetic'): void;
  explorerSet(p: Partial<Pick<ExplorerUi, 'tau' | 'beta' | 'eps'>>): void;
  explorerSynthetic(p: Partial<ExplorerUi['synthetic']>): void;
  explorerStep(): void;
  explorerConverge(): void;
  explorerReset(): void;
  explorerVerify(on: boolean): void;
  labStart(steps: number): void;
  labStop(): void;
  refreshGallery(clusters?: number, perCluster?: number): void;
  /** Test and demo hook: destroys the device as if it were lost. */
  simulateDeviceLoss(): void;
}

/** Size of the self-test GEMM (M = N = K). */
export const GEMM_CHECK_SIZE = 64;

const IDLE_STATUS: TrainStatus = { phase: 'idle', step: 0, epoch: 0, stepsPerEpoch: 1, totalSteps: 0, imagesPerS: 0, stepsPerS: 0, etaS: null, config: null, dataset: null };
const EMPTY_LAB: Record<Method, LabPoint[]> = { naive: [], swav: [], mira: [] };

let engine: EngineClient | null = null;
let nextId = 1;
let metricHistory: History<Point> = emptyHistory();
/** The latest dataset source, to reload it after a device loss. */
let lastSource: DatasetSource = { kind: 'bundled' };
/** A fresh trainer is built once the dataset and the checkpoint answer are both in. */
let autoConfigure = true;
/** After a lost device: reload this dataset in the new worker, then resume from the checkpoint. */
let recovery: { source: DatasetSource; resume: TrainConfig | null } | null = null;
let firstReady = true;
let noticeId = 1;

/** Why this page has no WebGPU, before any worker is started. */
function pageWithoutWebGpu(): string | null {
  if (typeof navigator !== 'undefined' && navigator.gpu) return null;
  if (typeof window !== 'undefined' && !window.isSecureContext) {
    return 'This page is not a secure context, so the browser hides WebGPU (navigator.gpu is missing). Open it over https or from http://localhost.';
  }
  return 'This browser has no WebGPU (navigator.gpu is missing).';
}

function send(req: EngineRequest): void {
  engine?.send(req);
}

function initialUrlState(): { preset: PresetName; config: TrainConfig; explicit: boolean } {
  if (typeof location === 'undefined') return { preset: 'small', config: { ...PRESETS.small.config }, explicit: false };
  return decodeUrlState(location.search, 'small');
}

function writeUrl(preset: PresetName, config: TrainConfig): void {
  if (typeof window === 'undefined') return;
  const q = encodeUrlState(preset, config);
  if (q !== location.search) window.history.replaceState(null, '', `${location.pathname}${q}${location.hash}`);
}

function sameConfig(a: TrainConfig | null, b: TrainConfig): boolean {
  if (!a) return false;
  return (Object.keys(b) as (keyof TrainConfig)[]).every((k) => k === 'dataset' || a[k] === b[k]);
}

function download(fileName: string, mime: string, bytes: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const useApp = create<AppState>()((set, get) => {
  // ───────────── frame batching ─────────────
  let pendingRecords: StepMetrics[] = [];
  let pendingStatus: TrainStatus | null = null;
  let pendingMarginal: AppState['marginal'] = null;
  let pendingLab: { method: Method; point: LabPoint }[] = [];
  let pendingProgress: DatasetState['progress'] = null;
  let frame = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  function schedule(): void {
    if (frame || timer) return;
    // rAF does not fire in a hidden tab; the timer keeps the state fresh there (rarely).
    if (typeof requestAnimationFrame !== 'undefined') frame = requestAnimationFrame(flush);
    timer = setTimeout(flush, 500);
  }

  function flush(): void {
    if (frame && typeof cancelAnimationFrame !== 'undefined') cancelAnimationFrame(frame);
    if (timer) clearTimeout(timer);
    frame = 0;
    timer = null;
    const s = get();
    const patch: Partial<AppState> = {};
    if (pendingRecords.length) {
      metricHistory = appendHistory(metricHistory, pendingRecords as unknown as Point[]);
      const latest = pendingRecords[pendingRecords.length - 1]!;
      let peak = s.peak ?? { used: 0, targetH: -Infinity, teacherH: -Infinity };
      for (const r of pendingRecords) {
        peak = {
          used: Math.max(peak.used, Number.isFinite(r.used_clusters) ? r.used_clusters! : 0),
          targetH: Math.max(peak.targetH, Number.isFinite(r.target_marginal_entropy) ? r.target_marginal_entropy! : -Infinity),
          teacherH: Math.max(peak.teacherH, Number.isFinite(r.teacher_marginal_entropy) ? r.teacher_marginal_entropy! : -Infinity),
        };
      }
      patch.series = historyPoints(metricHistory);
      patch.latest = latest;
      patch.peak = peak;
      const K = s.train.config?.prototypes ?? s.config.prototypes;
      patch.warnings = collapseWarnings(latest, peak, K);
      pendingRecords = [];
    }
    if (pendingStatus) {
      patch.train = pendingStatus;
      pendingStatus = null;
    }
    if (pendingMarginal) {
      patch.marginal = pendingMarginal;
      pendingMarginal = null;
    }
    if (pendingLab.length) {
      const series = { ...s.lab.series };
      for (const { method, point } of pendingLab) series[method] = [...series[method], point];
      patch.lab = { ...s.lab, series };
      pendingLab = [];
    }
    if (pendingProgress) {
      patch.dataset = { ...s.dataset, progress: pendingProgress };
      pendingProgress = null;
    }
    set(patch);
  }

  function resetRun(): Partial<AppState> {
    metricHistory = emptyHistory();
    pendingRecords = [];
    pendingMarginal = null;
    return { series: [], latest: null, peak: null, warnings: [], knn: [], knnInit: null, marginal: null, trainError: null };
  }

  function notice(kind: Notice['kind'], text: string): void {
    const id = noticeId++;
    set({ notices: [...get().notices.slice(-3), { id, kind, text }] });
  }

  function maybeConfigure(): void {
    const s = get();
    if (!autoConfigure || s.dataset.status !== 'ready' || !s.checkpoint.queried) return;
    if (s.checkpoint.offer) return; // the user chooses: resume or start fresh
    autoConfigure = false;
    send({ type: 'configure', config: s.config });
  }

  // ───────────── events ─────────────
  function onEvent(ev: EngineEvent): void {
    switch (ev.type) {
      case 'ready': {
        const s = get();
        const patch: Partial<AppState> = { gpu: { status: 'ready', adapter: ev.adapter } };
        if (!s.configFromUrl && firstReady) {
          const preset = defaultPreset(ev.adapter.isSoftware);
          patch.preset = preset;
          patch.config = { ...PRESETS[preset].config, dataset: s.config.dataset };
        }
        firstReady = false;
        set(patch);
        writeUrl(get().preset, get().config);
        send({ type: 'checkpoint-query' });
        send({ type: 'probe-datasets' });
        break;
      }
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
        else notice('error', ev.error);
        break;
      }
      case 'device-lost':
        flush();
        set({ deviceLost: ev.message, train: { ...get().train, phase: 'idle' } });
        send({ type: 'checkpoint-query' });
        break;
      case 'datasets-served': {
        set({ dataset: { ...get().dataset, served: ev.files } });
        // The page starts on the dataset the configuration names, when it is here; else the sample.
        if (get().dataset.status === 'none' && recovery) {
          get().loadDataset(recovery.source);
        } else if (get().dataset.status === 'none') {
          const wantCifar = get().config.dataset === 'cifar10';
          const cifar = ev.files.find((f) => /cifar/i.test(f));
          get().loadDataset(wantCifar && cifar ? { kind: 'served', file: cifar } : { kind: 'bundled' });
          if (wantCifar && !cifar) notice('info', 'This configuration trains on CIFAR-10, which is not loaded: drop cifar-10-binary.tar.gz (or its six .bin files) on the dataset panel. The bundled sample is used meanwhile.');
        }
        break;
      }
      case 'dataset-progress':
        pendingProgress = { phase: ev.phase, file: ev.file, loaded: ev.loaded, total: ev.total };
        schedule();
        break;
      case 'dataset': {
        pendingProgress = null;
        const key = ev.info.name === 'fashion-mnist-sample' ? 'bundled' : ev.info.name;
        const s = get();
        const config = { ...s.config, dataset: key };
        set({ dataset: { ...s.dataset, status: 'ready', info: ev.info, progress: null, error: null }, config });
        writeUrl(s.preset, config);
        if (recovery) {
          const resume = recovery.resume;
          recovery = null;
          if (resume) send({ type: 'configure', config: resume, resume: true });
          else send({ type: 'configure', config });
        } else if (autoConfigure) maybeConfigure();
        else if (!get().deviceLost) {
          // A new dataset means a new run.
          set(resetRun());
          send({ type: 'reset', config });
        }
        break;
      }
      case 'dataset-error': {
        pendingProgress = null;
        const d = get().dataset;
        set({ dataset: { ...d, status: d.info ? 'ready' : 'none', progress: null, error: { file: ev.file, message: ev.message } } });
        break;
      }
      case 'status':
        pendingStatus = ev.status;
        if (ev.status.phase !== 'playing') flush();
        else schedule();
        break;
      case 'metrics':
        for (const r of ev.records) pendingRecords.push(r);
        schedule();
        break;
      case 'knn': {
        const s = get();
        set({ knnInit: ev.init ?? s.knnInit, knn: ev.point ? [...s.knn.filter((p) => p.step !== ev.point!.step), ev.point] : s.knn });
        break;
      }
      case 'marginal':
        pendingMarginal = { step: ev.step, sorted: Array.from(ev.marginal).sort((a, b) => b - a) };
        schedule();
        break;
      case 'train-error':
        flush();
        set({ trainError: { kind: ev.kind, message: ev.message, metric: ev.metric, step: ev.step } });
        break;
      case 'history': {
        const cleared = resetRun();
        metricHistory = appendHistory(emptyHistory(), ev.records as unknown as Point[]);
        const latest = ev.records.at(-1) ?? null;
        set({ ...cleared, series: historyPoints(metricHistory), latest, knn: ev.knn, knnInit: ev.knnInit });
        break;
      }
      case 'checkpoint-info': {
        const s = get();
        const first = !s.checkpoint.queried;
        // Offer to resume on the first answer after loading the page (not after every save).
        const offer = first ? !!ev.info : s.checkpoint.offer && !!ev.info;
        set({ checkpoint: { ...s.checkpoint, info: ev.info, queried: true, offer } });
        if (first) maybeConfigure();
        break;
      }
      case 'checkpoint-saved':
        set({ checkpoint: { ...get().checkpoint, lastSaved: { step: ev.step, savedAt: ev.savedAt } } });
        break;
      case 'explorer':
        set({ explorer: { ...get().explorer, state: ev.state, error: null } });
        break;
      case 'explorer-busy':
        set({ explorer: { ...get().explorer, busy: ev.busy } });
        break;
      case 'explorer-error':
        set({ explorer: { ...get().explorer, error: ev.message } });
        break;
      case 'lab-status':
        flush();
        set({ lab: { ...get().lab, running: ev.running, step: ev.step, steps: ev.steps, detail: ev.detail ?? null, error: ev.error ?? null } });
        break;
      case 'lab-points':
        pendingLab.push(...ev.points);
        schedule();
        break;
      case 'gallery':
        set({ gallery: ev.result ? { status: 'ready', result: ev.result, error: null } : { status: 'error', result: get().gallery.result, error: ev.error ?? 'no gallery' } });
        break;
      case 'export':
        download(ev.fileName, ev.mime, ev.bytes);
        break;
      case 'export-error':
        notice('error', `Export failed: ${ev.message}`);
        break;
    }
  }

  function onCrash(message: string): void {
    set({ gpu: { status: 'failed', error: `The engine worker stopped: ${message}` } });
    const c = get().gemmCheck;
    if (c.status === 'running') set({ gemmCheck: { status: 'error', error: message } });
  }

  function boot(): void {
    engine = startEngine(onEvent, onCrash);
    engine.send({ type: 'init' });
  }

  const url = initialUrlState();

  return {
    gpu: { status: 'starting' },
    gemmCheck: { status: 'idle' },
    tab: 'dashboard',
    preset: url.preset,
    config: url.config,
    configFromUrl: url.explicit,
    dataset: { status: 'none', info: null, progress: null, error: null, served: [] },
    train: IDLE_STATUS,
    trainError: null,
    series: [],
    latest: null,
    peak: null,
    warnings: [],
    knn: [],
    knnInit: null,
    marginal: null,
    checkpoint: { info: null, queried: false, offer: false, lastSaved: null },
    deviceLost: null,
    explorer: { state: null, busy: false, error: null, verify: false, tau: 0.225, beta: 0.7, eps: 0.05, source: 'synthetic', synthetic: { B: 64, K: 16, imbalance: 0.5, seed: 1 } },
    lab: { running: false, step: 0, steps: 0, detail: null, error: null, series: EMPTY_LAB },
    gallery: { status: 'idle', result: null, error: null },
    notices: [],

    start() {
      if (engine || get().gpu.status !== 'starting') return;
      const missing = pageWithoutWebGpu();
      if (missing) {
        set({ gpu: { status: 'unavailable', reason: missing, hint: BROWSER_HINT } });
        return;
      }
      try {
        boot();
      } catch (e) {
        set({ gpu: { status: 'failed', error: `The engine worker could not be started: ${(e as Error).message}` } });
      }
    },

    runGemmCheck() {
      if (!engine || get().gpu.status !== 'ready' || get().gemmCheck.status === 'running') return;
      const id = nextId++;
      set({ gemmCheck: { status: 'running', id } });
      send({ type: 'gemm-check', id, size: GEMM_CHECK_SIZE });
    },

    setTab(tab) {
      set({ tab });
    },

    setPreset(name) {
      const s = get();
      const config = { ...PRESETS[name].config, dataset: s.config.dataset };
      set({ preset: name, config });
      writeUrl(name, config);
      if (s.dataset.status === 'ready' && !autoConfigure && !s.checkpoint.offer) {
        set(resetRun());
        send({ type: 'reset', config });
      }
    },

    setParam(key, value) {
      const s = get();
      const config = { ...s.config, [key]: value };
      set({ config });
      writeUrl(s.preset, config);
    },

    loadDataset(source) {
      lastSource = source;
      const id = nextId++;
      set({ dataset: { ...get().dataset, status: get().dataset.info ? 'ready' : 'loading', progress: { phase: 'reading', file: source.kind === 'files' ? (source.files[0]?.name ?? '') : 'the bundled sample', loaded: 0, total: 0 }, error: null } });
      send({ type: 'load-dataset', id, source });
    },

    play() {
      const s = get();
      if (s.train.phase === 'playing') return;
      if (s.checkpoint.offer) set({ checkpoint: { ...s.checkpoint, offer: false } });
      if (autoConfigure && s.dataset.status === 'ready') {
        autoConfigure = false;
        send({ type: 'configure', config: s.config });
      } else if (s.train.step === 0 && s.train.phase !== 'building' && !sameConfig(s.train.config, s.config)) {
        // Nothing trained yet: the panel's changes apply at once.
        set(resetRun());
        send({ type: 'reset', config: s.config });
      }
      set({ trainError: null });
      send({ type: 'play' });
    },

    pause() {
      send({ type: 'pause' });
    },

    togglePlay() {
      if (get().train.phase === 'playing') get().pause();
      else get().play();
    },

    stepBatch() {
      const s = get();
      if (s.train.phase === 'playing') return;
      if (s.train.step === 0 && s.train.phase === 'paused' && !sameConfig(s.train.config, s.config)) {
        set(resetRun());
        send({ type: 'reset', config: s.config });
      }
      set({ trainError: null });
      send({ type: 'step-batch', count: 1 });
    },

    reset() {
      const s = get();
      if (s.dataset.status !== 'ready') return;
      autoConfigure = false;
      set({ ...resetRun(), checkpoint: { ...s.checkpoint, offer: false } });
      send({ type: 'reset', config: s.config });
    },

    evaluateKnn() {
      send({ type: 'evaluate-knn' });
    },

    resumeCheckpoint() {
      const s = get();
      const info = s.checkpoint.info;
      if (!info) return;
      autoConfigure = false;
      const config = { ...info.config };
      const preset = s.preset;
      set({ ...resetRun(), config, checkpoint: { ...s.checkpoint, offer: false }, deviceLost: null });
      writeUrl(preset, config);
      send({ type: 'configure', config, resume: true });
    },

    startFresh() {
      const s = get();
      set({ checkpoint: { ...s.checkpoint, offer: false } });
      maybeConfigure();
    },

    recoverDevice() {
      // A new worker gets a new device; it reloads the dataset, then resumes from the checkpoint.
      engine?.dispose();
      engine = null;
      const s = get();
      const info = s.checkpoint.info;
      autoConfigure = false;
      recovery = { source: lastSource, resume: info ? { ...info.config } : null };
      set({ ...resetRun(), gpu: { status: 'starting' }, deviceLost: null, train: IDLE_STATUS, dataset: { ...s.dataset, status: 'none', info: null, progress: null }, explorer: { ...s.explorer, state: null, busy: false }, lab: { ...s.lab, running: false } });
      try {
        boot();
      } catch (e) {
        set({ gpu: { status: 'failed', error: `The engine worker could not be restarted: ${(e as Error).message}` } });
      }
    },

    dismissTrainError() {
      set({ trainError: null });
    },

    dismissDatasetError() {
      set({ dataset: { ...get().dataset, error: null } });
    },

    dismissNotice(id) {
      set({ notices: get().notices.filter((n) => n.id !== id) });
    },

    exportFile(what) {
      send({ type: 'export', id: nextId++, what });
    },

    explorerLoad(source) {
      const s = get();
      const src = source ?? s.explorer.source;
      const ex = { ...s.explorer, source: src, error: null };
      let req: ExplorerSource;
      if (src === 'batch') {
        // The batch's own temperature and the current β.
        const cfg = s.train.config ?? s.config;
        ex.tau = cfg.tauT;
        ex.beta = Number((s.latest?.beta ?? cfg.betaStart).toFixed(3));
        req = { kind: 'batch' };
      } else req = { kind: 'synthetic', ...s.explorer.synthetic };
      set({ explorer: ex });
      send({ type: 'explorer-load', source: req, tau: ex.tau, beta: ex.beta, eps: ex.eps });
    },

    explorerSet(p) {
      const ex = { ...get().explorer, ...p };
      set({ explorer: ex });
      if (ex.state) send({ type: 'explorer-params', tau: ex.tau, beta: ex.beta, eps: ex.eps });
    },

    explorerSynthetic(p) {
      const ex = get().explorer;
      set({ explorer: { ...ex, synthetic: { ...ex.synthetic, ...p } } });
    },

    explorerStep() {
      if (!get().explorer.state) return;
      send({ type: 'explorer-step' });
    },

    explorerConverge() {
      if (!get().explorer.state) return;
      send({ type: 'explorer-converge' });
    },

    explorerReset() {
      if (!get().explorer.state) return;
      send({ type: 'explorer-reset' });
    },

    explorerVerify(on) {
      set({ explorer: { ...get().explorer, verify: on } });
      send({ type: 'explorer-verify', on });
    },

    labStart(steps) {
      const s = get();
      if (s.lab.running || s.dataset.status !== 'ready') return;
      const base = s.gpu.status === 'ready' && s.gpu.adapter.isSoftware ? PRESETS.tiny.config : s.config;
      set({ lab: { running: true, step: 0, steps, detail: 'starting', error: null, series: { naive: [], swav: [], mira: [] } } });
      send({ type: 'lab-start', config: { ...base, seed: s.config.seed }, steps });
    },

    labStop() {
      send({ type: 'lab-stop' });
    },

    refreshGallery(clusters = 6, perCluster = 16) {
      set({ gallery: { ...get().gallery, status: 'loading', error: null } });
      send({ type: 'gallery', id: nextId++, clusters, perCluster });
    },

    simulateDeviceLoss() {
      send({ type: 'simulate-device-loss' });
    },
  };
});

/** The configuration differs from the running trainer's (a Reset applies it). */
export function usePendingChanges(): boolean {
  return useApp((s) => s.train.config !== null && !sameConfig(s.train.config, s.config));
}
