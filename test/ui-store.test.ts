// The page's store without a browser: a fake engine records the requests the store sends and
// emits engine events synchronously; frames are flushed by hand. Covers the startup handshake,
// the resume offer after a reload (accepted and declined), recovery after a lost device, a
// dataset change resetting the run, a NaN pausing the run, frame batching, the collapse lab's
// per-method series, the embedding map's requests, and the lifecycle machine's transitions on their own.
import { describe, expect, test } from 'vitest';
import type { TrainConfig } from '../src/train/config.ts';
import type { StepMetrics } from '../src/train/metric-layout.ts';
import { createPlaygroundStore } from '../src/ui/store/create.ts';
import { deviceLostMessage, resumeOffer, transition, type Lifecycle, type LifecycleInput } from '../src/ui/store/lifecycle.ts';
import type { FrameScheduler, PageEnvironment } from '../src/ui/store/types.ts';
import { PRESETS } from '../src/ui/presets.ts';
import { encodeUrlState } from '../src/ui/url-state.ts';
import type { EngineConnector } from '../src/worker/client.ts';
import type { AdapterStatus, CheckpointInfo, DatasetInfo, EmbeddingMapResult, EngineEvent, EngineRequest, TrainStatus } from '../src/worker/protocol.ts';

// ───────────────────────────── the fake engine and page ─────────────────────────────

interface FakeConnection {
  requests: EngineRequest[];
  disposed: boolean;
  emit(event: EngineEvent): void;
  /** A message the worker posted before it was terminated, delivered afterwards. */
  inFlight(event: EngineEvent): void;
  crash(message: string): void;
}

/** An engine connector whose engines record requests; the test emits their events. */
function fakeEngine() {
  const connections: FakeConnection[] = [];
  const connect: EngineConnector = (onEvent, onCrash) => {
    const c: FakeConnection = {
      requests: [],
      disposed: false,
      emit(event) {
        if (c.disposed) throw new Error(`the test emitted "${event.type}" on a disposed engine`);
        onEvent(event);
      },
      inFlight: onEvent,
      crash: onCrash,
    };
    connections.push(c);
    return {
      send(request) {
        if (c.disposed) throw new Error(`the store sent "${request.type}" to a disposed engine`);
        c.requests.push(request);
      },
      dispose() {
        c.disposed = true;
      },
    };
  };
  const current = (): FakeConnection => {
    const c = connections.at(-1);
    if (!c) throw new Error('no engine was started');
    return c;
  };
  return {
    connect,
    connections,
    current,
    emit: (event: EngineEvent) => current().emit(event),
    /** Requests of this type the current engine received, in order. */
    sent: <T extends EngineRequest['type']>(type: T) => current().requests.filter((r): r is Extract<EngineRequest, { type: T }> => r.type === type),
    /** Forgets the requests so far (to look at what follows). */
    clear: () => {
      current().requests.length = 0;
    },
  };
}

/** Frames that run only when the test says so. */
function manualFrames() {
  let pending: (() => void) | null = null;
  let requests = 0;
  const frames: FrameScheduler = (flush) => {
    pending = flush;
    requests++;
    return () => {
      if (pending === flush) pending = null;
    };
  };
  return {
    frames,
    requests: () => requests,
    pending: () => pending !== null,
    run() {
      const f = pending;
      pending = null;
      f?.();
    },
  };
}

function memoryPage(search = '') {
  const downloads: { fileName: string; mime: string; bytes: Uint8Array }[] = [];
  const page: PageEnvironment & { search: string; downloads: typeof downloads } = {
    search,
    downloads,
    readSearch: () => page.search,
    replaceSearch: (s) => {
      page.search = s;
    },
    download: (fileName, mime, bytes) => downloads.push({ fileName, mime, bytes }),
    missingWebGpu: () => null,
  };
  return page;
}

function setup(search = '') {
  const engine = fakeEngine();
  const frames = manualFrames();
  const page = memoryPage(search);
  const store = createPlaygroundStore(engine.connect, { frames: frames.frames, page });
  return { engine, frames, page, store, s: () => store.getState() };
}

// ───────────────────────────── fixtures ─────────────────────────────

const ADAPTER: AdapterStatus = {
  name: 'test adapter',
  vendor: 'test',
  architecture: '',
  description: '',
  isSoftware: false,
  features: { timestampQuery: false, shaderF16: false, subgroups: false },
};

const SAMPLE: DatasetInfo = { name: 'fashion-mnist-sample', source: 'bundled', trainCount: 2000, testCount: 500, height: 28, width: 28, channels: 1, classes: ['t-shirt'] };
const CIFAR: DatasetInfo = { name: 'cifar10', source: 'cifar-10-binary.tar.gz', trainCount: 50000, testCount: 10000, height: 32, width: 32, channels: 3, classes: ['airplane'] };

/** A checkpoint saved by an earlier visit: seed 11, MIRA, at step 40 (a configuration the page does not start with). */
const CHECKPOINT: CheckpointInfo = { step: 40, savedAt: 1_700_000_000_000, config: { ...PRESETS.tiny.config, seed: 11, steps: 200 }, dataset: 'bundled', bytes: 123_456 };

function status(phase: TrainStatus['phase'], step: number, config: TrainConfig | null): TrainStatus {
  return { phase, step, epoch: 0, stepsPerEpoch: 100, totalSteps: 300, imagesPerS: 0, stepsPerS: 0, etaS: null, config, dataset: config?.dataset ?? null };
}

function record(step: number, over: Partial<StepMetrics> = {}): StepMetrics {
  const base: StepMetrics = {
    step,
    epoch: 0,
    loss: 5 - step * 0.01,
    lr: 0.1,
    beta: 0.7,
    ema_momentum: 0.99,
    student_entropy: 3,
    student_marginal_entropy: 3.4,
    student_mi: 0.4,
    teacher_entropy: 3,
    teacher_marginal_entropy: 3.4,
    teacher_mi: 0.4,
    target_entropy: 2,
    target_marginal_entropy: 3.4,
    target_mi: 1.4,
    kl_teacher_targets: 0.5,
    kl_student_targets: 0.6,
    used_clusters: 30,
    largest_cluster_fraction: 0.05,
    images_per_s: 100,
    views_per_s: 200,
    wall_s: step,
  };
  return { ...base, ...over };
}

type Setup = ReturnType<typeof setup>;

/** Engine up, the bundled sample loaded, the checkpoint query answered with `checkpoint`. */
function startPage(t: Setup, checkpoint: CheckpointInfo | null, served: string[] = []): void {
  t.s().start();
  t.engine.emit({ type: 'ready', adapter: ADAPTER });
  t.engine.emit({ type: 'datasets-served', files: served });
  t.engine.emit({ type: 'checkpoint-info', info: checkpoint });
  t.engine.emit({ type: 'dataset', id: 1, info: SAMPLE });
}

/** A fresh run trained to `step`, its metrics on the charts and a checkpoint saved at `step`. */
function trainedRun(t: Setup, step: number): CheckpointInfo {
  startPage(t, null);
  const config = t.s().config;
  t.engine.emit({ type: 'status', status: status('paused', 0, config) });
  t.engine.emit({ type: 'metrics', records: Array.from({ length: step }, (_, i) => record(i + 1)) });
  t.engine.emit({ type: 'knn', init: 0.2, point: { step, top1: 0.41 } });
  t.engine.emit({ type: 'status', status: status('paused', step, config) });
  const saved: CheckpointInfo = { step, savedAt: 1_700_000_500_000, config, dataset: 'bundled', bytes: 1000 };
  t.engine.emit({ type: 'checkpoint-saved', step, savedAt: saved.savedAt });
  t.engine.emit({ type: 'checkpoint-info', info: saved });
  t.frames.run();
  return saved;
}

// ───────────────────────────── embedding map ─────────────────────────────

/** A map answer of `n` points (clusters when `clustered`). */
function mapResult(n: number, clustered: boolean): EmbeddingMapResult {
  return {
    projection: 'pca',
    step: 7,
    method: 'mira',
    points: new Float32Array(2 * n),
    labels: new Uint32Array(n),
    clusters: clustered ? new Uint32Array(n) : null,
    prototypes: clustered ? 32 : 0,
    classes: ['t-shirt'],
    indices: Uint32Array.from({ length: n }, (_, i) => i),
    images: new Uint8Array(n * 28 * 28),
    height: 28,
    width: 28,
    channels: 1,
    dim: 32,
    explained: [0.4, 0.2],
    projectS: 0.1,
    purity: clustered ? 1 : null,
    nmi: clustered ? 0 : null,
  };
}

describe('embedding map', () => {
  test('Compute map asks the engine with the chosen projection; only the answer to the latest request is kept; errors are shown', () => {
    const t = setup();
    trainedRun(t, 7);
    t.s().setMapProjection('umap');
    t.s().computeEmbeddingMap();
    t.s().computeEmbeddingMap('pca');
    const sent = t.engine.sent('embedding-map');
    expect(sent.map((r) => r.projection)).toEqual(['umap', 'pca']);
    expect(t.s().embeddingMap.status).toBe('computing');
    t.engine.emit({ type: 'embedding-map', id: sent[0]!.id, result: mapResult(3, true) });
    expect(t.s().embeddingMap.result).toBeNull();
    t.engine.emit({ type: 'embedding-map', id: sent[1]!.id, result: mapResult(5, true) });
    expect(t.s().embeddingMap).toMatchObject({ status: 'ready', projection: 'pca', error: null });
    expect(t.s().embeddingMap.result?.labels.length).toBe(5);
    t.s().computeEmbeddingMap();
    const again = t.engine.sent('embedding-map').at(-1)!;
    t.engine.emit({ type: 'embedding-map', id: again.id, result: null, error: 'The embedding map could not be computed: boom' });
    expect(t.s().embeddingMap).toMatchObject({ status: 'error', error: 'The embedding map could not be computed: boom' });
    expect(t.s().embeddingMap.result?.labels.length, 'the last map stays on screen').toBe(5);
  });

  test('colouring by cluster falls back to class for a method without a head', () => {
    const t = setup();
    trainedRun(t, 7);
    t.s().setMapColouring('cluster');
    t.s().computeEmbeddingMap();
    t.engine.emit({ type: 'embedding-map', id: t.engine.sent('embedding-map').at(-1)!.id, result: mapResult(4, true) });
    expect(t.s().embeddingMap.colouring).toBe('cluster');
    t.s().computeEmbeddingMap();
    t.engine.emit({ type: 'embedding-map', id: t.engine.sent('embedding-map').at(-1)!.id, result: mapResult(4, false) });
    expect(t.s().embeddingMap.colouring).toBe('class');
  });
});

// ───────────────────────────── startup ─────────────────────────────

describe('startup', () => {
  test('starts the engine, asks for the checkpoint and the datasets, and builds one fresh trainer once both answers are in', () => {
    const t = setup();
    expect(t.engine.connections).toHaveLength(0);
    t.s().start();
    t.s().start();
    expect(t.engine.connections).toHaveLength(1);
    expect(t.engine.current().requests).toEqual([{ type: 'init' }]);
    t.engine.emit({ type: 'ready', adapter: { ...ADAPTER, isSoftware: true } });
    expect(t.s().gpu).toEqual({ status: 'ready', adapter: { ...ADAPTER, isSoftware: true } });
    // An emulated GPU starts on the tiny preset, and the URL says so.
    expect(t.s().preset).toBe('tiny');
    expect(t.page.search).toBe(encodeUrlState('tiny', t.s().config));
    expect(t.engine.current().requests.map((r) => r.type)).toEqual(['init', 'checkpoint-query', 'probe-datasets']);

    t.engine.emit({ type: 'datasets-served', files: [] });
    expect(t.engine.sent('load-dataset')).toEqual([{ type: 'load-dataset', id: 1, source: { kind: 'bundled' } }]);
    expect(t.s().dataset.status).toBe('loading');
    t.engine.emit({ type: 'dataset', id: 1, info: SAMPLE });
    expect(t.s().dataset.status).toBe('ready');
    // The checkpoint answer is not in yet: a trainer now could overwrite a checkpoint the user wants back.
    expect(t.engine.sent('configure')).toEqual([]);
    expect(t.s().lifecycle).toEqual({ state: 'waiting', datasetLoaded: true, checkpointAnswered: false });

    t.engine.emit({ type: 'checkpoint-info', info: null });
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config: { ...PRESETS.tiny.config, dataset: 'bundled' } }]);
    expect(t.s().lifecycle).toEqual({ state: 'ready' });
    expect(resumeOffer(t.s().lifecycle)).toBeNull();
  });

  test('a configuration named in the URL is kept whatever the adapter', () => {
    const t = setup('?p=small&s=7');
    startPage(t, null);
    expect(t.s().preset).toBe('small');
    expect(t.s().config.seed).toBe(7);
    expect(t.engine.sent('configure')[0]!.config.seed).toBe(7);
  });

  test('a page without WebGPU says so and starts no engine; a crashed worker fails the page', () => {
    const engine = fakeEngine();
    const store = createPlaygroundStore(engine.connect, { frames: manualFrames().frames, page: { ...memoryPage(), missingWebGpu: () => 'This browser has no WebGPU (navigator.gpu is missing).' } });
    store.getState().start();
    expect(engine.connections).toHaveLength(0);
    expect(store.getState().gpu).toMatchObject({ status: 'unavailable', reason: 'This browser has no WebGPU (navigator.gpu is missing).' });
    expect(store.getState().lifecycle.state).toBe('failed');

    const t = setup();
    t.s().start();
    t.engine.current().crash('out of memory');
    expect(t.s().gpu).toEqual({ status: 'failed', error: 'The engine worker stopped: out of memory' });
    expect(t.s().lifecycle).toEqual({ state: 'failed', error: 'out of memory' });
  });

  test('two stores share nothing (no module-level state)', () => {
    const a = setup();
    const b = setup();
    startPage(a, null);
    b.s().start();
    b.engine.emit({ type: 'ready', adapter: ADAPTER });
    b.engine.emit({ type: 'datasets-served', files: [] });
    // Request ids start at 1 in each store; b's lifecycle is its own.
    expect(b.engine.sent('load-dataset')[0]!.id).toBe(1);
    expect(a.s().lifecycle.state).toBe('ready');
    expect(b.s().lifecycle).toEqual({ state: 'waiting', datasetLoaded: false, checkpointAnswered: false });
  });
});

// ───────────────────────────── the resume offer ─────────────────────────────

describe('the resume offer after a reload', () => {
  test('a stored checkpoint is offered, and no trainer is built until the user answers', () => {
    const t = setup();
    startPage(t, CHECKPOINT);
    expect(t.s().lifecycle.state).toBe('offering-resume');
    expect(resumeOffer(t.s().lifecycle)).toEqual(CHECKPOINT);
    expect(t.engine.sent('configure')).toEqual([]);
    expect(t.engine.sent('reset')).toEqual([]);
    // A later answer (after a save elsewhere) updates the offer; it does not build a trainer either.
    const newer = { ...CHECKPOINT, step: 60 };
    t.engine.emit({ type: 'checkpoint-info', info: newer });
    expect(resumeOffer(t.s().lifecycle)).toEqual(newer);
    expect(t.engine.sent('configure')).toEqual([]);
  });

  test('accepting resumes from the checkpoint with its configuration, and its history fills the charts', () => {
    const t = setup();
    startPage(t, CHECKPOINT);
    t.s().resumeCheckpoint();
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config: CHECKPOINT.config, resume: true }]);
    expect(t.s().config).toEqual(CHECKPOINT.config);
    expect(t.page.search).toBe(encodeUrlState(t.s().preset, CHECKPOINT.config));
    expect(resumeOffer(t.s().lifecycle)).toBeNull();
    expect(t.s().lifecycle.state).toBe('ready');
    t.engine.emit({ type: 'history', records: [record(10), record(20), record(40)], knn: [{ step: 40, top1: 0.5 }], knnInit: 0.2 });
    expect(t.s().series.map((p) => p.step)).toEqual([10, 20, 40]);
    expect(t.s().latest?.step).toBe(40);
    expect(t.s().knn).toEqual([{ step: 40, top1: 0.5 }]);
    // Resuming again is not on offer any more.
    t.s().resumeCheckpoint();
    expect(t.engine.sent('configure')).toHaveLength(1);
  });

  test('declining starts a fresh run from the page configuration and leaves the checkpoint alone', () => {
    const t = setup();
    startPage(t, CHECKPOINT);
    const config = t.s().config;
    t.s().startFresh();
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config }]);
    expect(config.seed).not.toBe(CHECKPOINT.config.seed);
    expect(resumeOffer(t.s().lifecycle)).toBeNull();
    expect(t.engine.sent('checkpoint-discard')).toEqual([]);
  });

  test('Play during the offer starts fresh and plays', () => {
    const t = setup();
    startPage(t, CHECKPOINT);
    t.s().play();
    expect(t.engine.current().requests.filter((r) => r.type === 'configure' || r.type === 'play' || r.type === 'reset').map((r) => r.type)).toEqual(['configure', 'play']);
    expect(t.engine.sent('configure')[0]).not.toHaveProperty('resume');
    expect(resumeOffer(t.s().lifecycle)).toBeNull();
  });

  test('the offer waits for the dataset: Resume before it is loaded does nothing', () => {
    const t = setup();
    t.s().start();
    t.engine.emit({ type: 'ready', adapter: ADAPTER });
    t.engine.emit({ type: 'checkpoint-info', info: CHECKPOINT });
    t.s().resumeCheckpoint();
    expect(t.engine.sent('configure')).toEqual([]);
    t.engine.emit({ type: 'datasets-served', files: [] });
    t.engine.emit({ type: 'dataset', id: 1, info: SAMPLE });
    expect(t.engine.sent('configure')).toEqual([]);
    t.s().resumeCheckpoint();
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config: CHECKPOINT.config, resume: true }]);
  });
});

// ───────────────────────────── a lost device ─────────────────────────────

describe('recovery after a lost device', () => {
  test('the loss is said; recovering starts a new engine that reloads the same dataset and resumes from the last checkpoint, and says so', () => {
    const t = setup();
    startPage(t, null, ['cifar-10-binary.tar.gz']);
    t.s().loadDataset({ kind: 'served', file: 'cifar-10-binary.tar.gz' });
    t.engine.emit({ type: 'dataset', id: 2, info: CIFAR });
    const config = t.s().config;
    expect(config.dataset).toBe('cifar10');
    t.engine.emit({ type: 'status', status: status('playing', 25, config) });
    t.engine.emit({ type: 'metrics', records: [record(24), record(25)] });
    const saved: CheckpointInfo = { step: 25, savedAt: 1_700_000_900_000, config, dataset: 'cifar10', bytes: 1000 };
    t.engine.emit({ type: 'checkpoint-info', info: saved });
    const first = t.engine.current();

    t.engine.emit({ type: 'device-lost', message: 'unknown: the GPU driver reset' });
    // Pending metrics were applied before the page says the device is gone.
    expect(t.s().series.map((p) => p.step)).toEqual([24, 25]);
    expect(deviceLostMessage(t.s().lifecycle)).toBe('unknown: the GPU driver reset');
    expect(t.s().train.phase).toBe('idle');
    expect(first.requests.at(-1)).toEqual({ type: 'checkpoint-query' });
    t.engine.emit({ type: 'checkpoint-info', info: saved });
    // While the device is lost nothing is rebuilt, not even by a Reset or a new preset.
    const builds = () => first.requests.filter((r) => r.type === 'reset' || r.type === 'configure').length;
    const buildsBefore = builds();
    t.s().reset();
    t.s().setPreset('collapse');
    expect(builds()).toBe(buildsBefore);
    const editedConfig = t.s().config;

    t.s().recoverDevice();
    expect(first.disposed).toBe(true);
    expect(t.engine.connections).toHaveLength(2);
    const second = t.engine.current();
    expect(second.requests).toEqual([{ type: 'init' }]);
    expect(t.s().lifecycle).toEqual({ state: 'recovering', source: { kind: 'served', file: 'cifar-10-binary.tar.gz' }, checkpoint: saved });
    expect(deviceLostMessage(t.s().lifecycle)).toBeNull();
    expect(t.s().gpu.status).toBe('starting');
    expect(t.s().series).toEqual([]);
    expect(t.s().dataset).toMatchObject({ status: 'none', info: null });

    t.engine.emit({ type: 'ready', adapter: { ...ADAPTER, isSoftware: true } });
    // Not a first visit: the adapter does not pick a preset over the user's configuration.
    expect(t.s().config).toEqual(editedConfig);
    t.engine.emit({ type: 'datasets-served', files: ['cifar-10-binary.tar.gz'] });
    expect(t.engine.sent('load-dataset')).toEqual([{ type: 'load-dataset', id: expect.any(Number), source: { kind: 'served', file: 'cifar-10-binary.tar.gz' } }]);
    t.engine.emit({ type: 'checkpoint-info', info: saved });
    expect(t.engine.sent('configure')).toEqual([]);
    t.engine.emit({ type: 'dataset', id: 3, info: CIFAR });
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config: saved.config, resume: true }]);
    expect(t.engine.sent('reset')).toEqual([]);
    expect(t.s().lifecycle.state).toBe('ready');
    expect(t.s().notices.at(-1)).toMatchObject({ kind: 'info', text: expect.stringContaining('resumes from the checkpoint of step 25') });
    // The lost engine's late events are dropped.
    first.inFlight({ type: 'status', status: status('paused', 99, config) });
    first.inFlight({ type: 'device-lost', message: 'late' });
    expect(t.s().train.step).toBe(0);
    expect(t.s().lifecycle.state).toBe('ready');
  });

  test('without a checkpoint the new engine starts a fresh run, and says so', () => {
    const t = setup();
    startPage(t, null);
    t.engine.emit({ type: 'device-lost', message: 'destroyed: simulated' });
    t.engine.emit({ type: 'checkpoint-info', info: null });
    t.s().recoverDevice();
    t.engine.emit({ type: 'ready', adapter: ADAPTER });
    t.engine.emit({ type: 'datasets-served', files: [] });
    expect(t.engine.sent('load-dataset')[0]!.source).toEqual({ kind: 'bundled' });
    t.engine.emit({ type: 'dataset', id: 1, info: SAMPLE });
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config: t.s().config }]);
    expect(t.s().notices.at(-1)?.text).toMatch(/no checkpoint, so training starts afresh/);
  });

  test('a new engine that cannot be started fails the page with the reason', () => {
    let calls = 0;
    const engine = fakeEngine();
    const connect: EngineConnector = (onEvent, onCrash) => {
      if (++calls > 1) throw new Error('Worker constructor blocked');
      return engine.connect(onEvent, onCrash);
    };
    const store = createPlaygroundStore(connect, { frames: manualFrames().frames, page: memoryPage() });
    store.getState().start();
    engine.emit({ type: 'ready', adapter: ADAPTER });
    engine.emit({ type: 'device-lost', message: 'unknown: gone' });
    store.getState().recoverDevice();
    expect(store.getState().gpu).toEqual({ status: 'failed', error: 'The engine worker could not be restarted: Worker constructor blocked' });
    expect(store.getState().lifecycle.state).toBe('failed');
  });
});

// ───────────────────────────── the run ─────────────────────────────

describe('the run', () => {
  test('a dataset change resets the run: history and metrics cleared, a fresh trainer for the new dataset', () => {
    const t = setup();
    trainedRun(t, 5);
    expect(t.s().series).toHaveLength(5);
    expect(t.s().latest?.step).toBe(5);
    expect(t.s().knn).toHaveLength(1);
    t.engine.clear();

    t.s().loadDataset({ kind: 'served', file: 'cifar-10-binary.tar.gz' });
    expect(t.engine.current().requests).toEqual([{ type: 'load-dataset', id: expect.any(Number), source: { kind: 'served', file: 'cifar-10-binary.tar.gz' } }]);
    // The loaded dataset and its run stay until the new one is in (a failed load keeps them).
    expect(t.s().series).toHaveLength(5);
    t.engine.emit({ type: 'dataset', id: 2, info: CIFAR });
    expect(t.s()).toMatchObject({ series: [], latest: null, peak: null, warnings: [], knn: [], knnInit: null, marginal: null, trainError: null });
    expect(t.s().config.dataset).toBe('cifar10');
    expect(t.engine.sent('reset')).toEqual([{ type: 'reset', config: t.s().config }]);
    expect(new URLSearchParams(t.page.search).get('d')).toBe('cifar10');
  });

  test('a failed dataset load keeps the run and names the file', () => {
    const t = setup();
    trainedRun(t, 3);
    t.s().loadDataset({ kind: 'served', file: 'cifar-10-binary.tar.gz' });
    t.engine.emit({ type: 'dataset-error', id: 2, file: 'cifar-10-binary.tar.gz', message: 'not a gzip file' });
    expect(t.s().dataset).toMatchObject({ status: 'ready', info: SAMPLE, error: { file: 'cifar-10-binary.tar.gz', message: 'not a gzip file' } });
    expect(t.s().series).toHaveLength(3);
    expect(t.engine.sent('reset')).toEqual([]);
  });

  test('a NaN pauses the run and shows the error with the metric', () => {
    const t = setup();
    startPage(t, null);
    t.s().play();
    const config = t.s().config;
    t.engine.emit({ type: 'status', status: status('playing', 7, config) });
    t.frames.run();
    expect(t.s().train.phase).toBe('playing');
    t.engine.emit({ type: 'metrics', records: [record(7), record(8, { loss: NaN })] });
    t.engine.emit({ type: 'train-error', kind: 'nan', metric: 'loss', step: 8, message: 'Training paused: loss became NaN at step 8. Lower the learning rate or τ, or reset.' });
    expect(t.s().train.phase).not.toBe('playing');
    expect(t.s().trainError).toEqual({ kind: 'nan', metric: 'loss', step: 8, message: 'Training paused: loss became NaN at step 8. Lower the learning rate or τ, or reset.' });
    // The NaN is on the chart, applied before the error.
    expect(Number.isNaN(t.s().latest?.loss)).toBe(true);
    expect(t.s().series.map((p) => p.step)).toEqual([7, 8]);
    // Play again clears the error and asks the engine to play.
    t.engine.clear();
    t.s().play();
    expect(t.s().trainError).toBeNull();
    expect(t.engine.current().requests).toEqual([{ type: 'play' }]);
  });

  test('a failed checkpoint save is shown but does not pause a playing run', () => {
    const t = setup();
    startPage(t, null);
    t.engine.emit({ type: 'status', status: status('playing', 3, t.s().config) });
    t.frames.run();
    t.engine.emit({ type: 'train-error', kind: 'checkpoint', message: 'The checkpoint could not be saved: quota exceeded' });
    expect(t.s().train.phase).toBe('playing');
    expect(t.s().trainError?.kind).toBe('checkpoint');
  });

  test('panel changes before the first step apply at once on Play; after it they wait for a Reset', () => {
    const t = setup();
    startPage(t, null);
    t.engine.emit({ type: 'status', status: status('paused', 0, t.s().config) });
    t.s().setParam('seed', 99);
    t.engine.clear();
    t.s().play();
    expect(t.engine.current().requests).toEqual([{ type: 'reset', config: { ...t.s().config, seed: 99 } }, { type: 'play' }]);

    t.engine.emit({ type: 'status', status: status('paused', 4, { ...t.s().config, seed: 99 }) });
    t.s().setParam('seed', 5);
    t.engine.clear();
    t.s().play();
    expect(t.engine.current().requests).toEqual([{ type: 'play' }]);
    t.s().reset();
    expect(t.engine.current().requests.at(-1)).toEqual({ type: 'reset', config: t.s().config });
  });

  test('streamed events are applied once per frame; a status that leaves playing is applied at once', () => {
    const t = setup();
    startPage(t, null);
    const config = t.s().config;
    const requestsBefore = t.frames.requests();
    t.engine.emit({ type: 'status', status: status('playing', 1, config) });
    t.engine.emit({ type: 'metrics', records: [record(1)] });
    t.engine.emit({ type: 'metrics', records: [record(2), record(3)] });
    t.engine.emit({ type: 'marginal', step: 3, marginal: new Float32Array([0.1, 0.6, 0.3]) });
    t.engine.emit({ type: 'dataset-progress', id: 9, phase: 'decoding', file: 'x', loaded: 5, total: 10 });
    expect(t.frames.requests() - requestsBefore).toBe(1);
    expect(t.s().series).toEqual([]);
    expect(t.s().train.phase).not.toBe('playing');
    t.frames.run();
    expect(t.s().series.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(t.s().train.phase).toBe('playing');
    expect(t.s().marginal).toEqual({ step: 3, sorted: [expect.closeTo(0.6, 6), expect.closeTo(0.3, 6), expect.closeTo(0.1, 6)] });
    expect(t.s().dataset.progress).toEqual({ phase: 'decoding', file: 'x', loaded: 5, total: 10 });
    expect(t.s().peak?.used).toBe(30);

    t.engine.emit({ type: 'metrics', records: [record(4)] });
    t.engine.emit({ type: 'status', status: status('paused', 4, config) });
    expect(t.frames.pending()).toBe(false);
    expect(t.s().train.phase).toBe('paused');
    expect(t.s().latest?.step).toBe(4);
  });
});

// ───────────────────────────── the collapse lab, exports ─────────────────────────────

describe('the collapse lab and exports', () => {
  test('lab series are keyed by method id as points arrive, any id', () => {
    const t = setup();
    startPage(t, null);
    t.s().labStart(2);
    expect(t.engine.sent('lab-start')).toEqual([{ type: 'lab-start', config: t.s().config, steps: 2 }]);
    expect(t.s().lab).toMatchObject({ running: true, series: {} });
    const point = (step: number) => ({ step, used_clusters: 3, target_marginal_entropy: 1, teacher_marginal_entropy: 1, target_mi: 0.5, effective_rank: 4, loss: 2 });
    t.engine.emit({ type: 'lab-points', points: [{ method: 'naive', point: point(1) }, { method: 'mira', point: point(1) }] });
    t.engine.emit({ type: 'lab-points', points: [{ method: 'sela' as never, point: point(1) }, { method: 'mira', point: point(2) }] });
    t.frames.run();
    expect(Object.keys(t.s().lab.series)).toEqual(['naive', 'mira', 'sela']);
    expect(t.s().lab.series.mira!.map((p) => p.step)).toEqual([1, 2]);
    t.engine.emit({ type: 'lab-status', running: false, step: 2, steps: 2, detail: 'done' });
    expect(t.s().lab).toMatchObject({ running: false, step: 2, detail: 'done' });
  });

  test('an export is downloaded through the page; a failed one is a notice', () => {
    const t = setup();
    startPage(t, null);
    t.s().exportFile('metrics-csv');
    const req = t.engine.sent('export')[0]!;
    expect(req.what).toBe('metrics-csv');
    t.engine.emit({ type: 'export', id: req.id, fileName: 'metrics.csv', mime: 'text/csv', bytes: new Uint8Array([1, 2]) });
    expect(t.page.downloads).toEqual([{ fileName: 'metrics.csv', mime: 'text/csv', bytes: new Uint8Array([1, 2]) }]);
    t.engine.emit({ type: 'export-error', id: req.id, message: 'no run' });
    expect(t.s().notices.at(-1)).toMatchObject({ kind: 'error', text: 'Export failed: no run' });
  });
});

// ───────────────────────────── the lifecycle machine ─────────────────────────────

describe('the lifecycle machine', () => {
  const run = (inputs: LifecycleInput[], from: Lifecycle = { state: 'starting' }) => {
    let state = from;
    const effects = [];
    for (const input of inputs) {
      const t = transition(state, input);
      state = t.next;
      effects.push(...t.effects);
    }
    return { state, effects };
  };

  test('a fresh trainer once both the dataset and the checkpoint answer are in, in either order', () => {
    for (const order of [['dataset-loaded', 'answer'], ['answer', 'dataset-loaded']]) {
      const inputs: LifecycleInput[] = [{ type: 'engine-ready' }, ...order.map((o): LifecycleInput => (o === 'answer' ? { type: 'checkpoint-answer', checkpoint: null } : { type: 'dataset-loaded' }))];
      expect(run(inputs)).toEqual({ state: { state: 'ready' }, effects: [{ type: 'configure', checkpoint: null, reason: 'startup' }] });
    }
  });

  test('only the first checkpoint answer makes an offer', () => {
    const r = run([{ type: 'engine-ready' }, { type: 'checkpoint-answer', checkpoint: null }, { type: 'checkpoint-answer', checkpoint: CHECKPOINT }]);
    expect(r.state).toEqual({ state: 'waiting', datasetLoaded: false, checkpointAnswered: true });
  });

  test('a discarded checkpoint withdraws the offer', () => {
    const r = run([{ type: 'engine-ready' }, { type: 'dataset-loaded' }, { type: 'checkpoint-answer', checkpoint: CHECKPOINT }, { type: 'checkpoint-answer', checkpoint: null }]);
    expect(r).toEqual({ state: { state: 'ready' }, effects: [{ type: 'configure', checkpoint: null, reason: 'startup' }] });
  });

  test('a lost device interrupts any live state; only it can be recovered from; recovery resumes when the dataset is back', () => {
    const live: Lifecycle[] = [{ state: 'starting' }, { state: 'waiting', datasetLoaded: true, checkpointAnswered: false }, { state: 'offering-resume', checkpoint: CHECKPOINT, datasetLoaded: true }, { state: 'ready' }, { state: 'recovering', source: { kind: 'bundled' }, checkpoint: null }];
    for (const from of live) expect(transition(from, { type: 'device-lost', message: 'm' }).next).toEqual({ state: 'device-lost', message: 'm' });
    const recover: LifecycleInput = { type: 'recover', source: { kind: 'bundled' }, checkpoint: CHECKPOINT };
    for (const from of live) expect(transition(from, recover)).toEqual({ next: from, effects: [] });
    const r = run([{ type: 'device-lost', message: 'm' }, recover, { type: 'engine-ready' }, { type: 'checkpoint-answer', checkpoint: CHECKPOINT }, { type: 'dataset-loaded' }], { state: 'ready' });
    expect(r).toEqual({ state: { state: 'ready' }, effects: [{ type: 'restart-engine' }, { type: 'configure', checkpoint: CHECKPOINT, reason: 'recovery' }] });
  });

  test('a failed engine stays failed', () => {
    const failed = run([{ type: 'engine-failed', error: 'no adapter' }]).state;
    expect(failed).toEqual({ state: 'failed', error: 'no adapter' });
    for (const input of [{ type: 'engine-ready' }, { type: 'dataset-loaded' }, { type: 'device-lost', message: 'm' }, { type: 'play' }] as LifecycleInput[]) expect(transition(failed, input).next).toBe(failed);
  });
});

// ───────────────────────────── checkpoint files ─────────────────────────────

describe('checkpoint files loaded into the page', () => {
  const file = (name: string) => new File([new Uint8Array(8)], name);

  test('the chosen files go to the engine with the page configuration; an accepted checkpoint becomes the run, its configuration the page\'s, and the resume offer is gone', () => {
    const t = setup();
    startPage(t, CHECKPOINT);
    expect(resumeOffer(t.s().lifecycle)).toEqual(CHECKPOINT);
    t.engine.emit({ type: 'metrics', records: [record(1), record(2)] });
    t.frames.run();
    const files = [file('model.safetensors'), file('optimizer.safetensors')];
    t.s().importCheckpoint(files);
    const [req] = t.engine.sent('import-checkpoint');
    expect(req!.files).toEqual(files);
    expect(req!.config).toEqual(t.s().config);
    expect(t.s().checkpoint.importing).toEqual({ id: req!.id, files: 'model.safetensors, optimizer.safetensors' });

    const config: TrainConfig = { ...PRESETS.tiny.config, method: 'swav', seed: 5, steps: 6, prototypes: 16, dataset: 'bundled' };
    t.engine.emit({ type: 'checkpoint-imported', id: req!.id, file: 'model.safetensors', step: 3, config, optimizer: null, notes: [] });
    expect(t.s().config).toEqual(config);
    expect(t.page.search).toBe(encodeUrlState(t.s().preset, config));
    expect(t.s().series).toEqual([]);
    expect(t.s().checkpoint.importing).toBeNull();
    expect(t.s().lifecycle).toEqual({ state: 'ready' });
    const notice = t.s().notices.at(-1)!;
    expect(notice.kind).toBe('info');
    expect(notice.text).toContain('Loaded model.safetensors: a Sinkhorn-Knopp (SwAV) run at step 3.');
    expect(notice.text).toContain('momentum starts at zero');
    // The engine builds from the files itself: the store asks for no other trainer.
    expect(t.engine.sent('configure').filter((c) => c.resume)).toEqual([]);
  });

  test('a refused file is said with its name and reason, and the run on the page is kept', () => {
    const t = setup();
    trainedRun(t, 4);
    const before = { config: t.s().config, series: t.s().series.length };
    t.s().importCheckpoint([file('model.safetensors')]);
    const [req] = t.engine.sent('import-checkpoint');
    t.engine.emit({ type: 'checkpoint-refused', id: req!.id, origin: 'file', file: 'model.safetensors', message: 'model.safetensors: non-finite weights in 1 tensor' });
    expect(t.s().checkpoint.refused).toEqual({ origin: 'file', file: 'model.safetensors', message: 'model.safetensors: non-finite weights in 1 tensor' });
    expect(t.s().checkpoint.importing).toBeNull();
    expect(t.s().config).toEqual(before.config);
    expect(t.s().series.length).toBe(before.series);
    expect(t.s().lifecycle).toEqual({ state: 'ready' });
    t.s().dismissCheckpointRefusal();
    expect(t.s().checkpoint.refused).toBeNull();
  });

  test('before a dataset is loaded the files are not sent, and the page says why', () => {
    const t = setup();
    t.s().start();
    t.engine.emit({ type: 'ready', adapter: ADAPTER });
    t.s().importCheckpoint([file('model.safetensors')]);
    expect(t.engine.sent('import-checkpoint')).toEqual([]);
    expect(t.s().checkpoint.refused?.message).toContain('No dataset is loaded yet');
  });

  test('a checkpoint in IndexedDB that the engine refuses is said, not offered, and a fresh run starts', () => {
    const t = setup();
    t.s().start();
    t.engine.emit({ type: 'ready', adapter: ADAPTER });
    t.engine.emit({ type: 'datasets-served', files: [] });
    t.engine.emit({ type: 'dataset', id: 1, info: SAMPLE });
    t.engine.emit({ type: 'checkpoint-refused', origin: 'browser', file: 'the checkpoint saved in this browser', message: 'non-finite weights' });
    t.engine.emit({ type: 'checkpoint-info', info: null });
    expect(t.s().checkpoint.refused).toEqual({ origin: 'browser', file: 'the checkpoint saved in this browser', message: 'non-finite weights' });
    expect(resumeOffer(t.s().lifecycle)).toBeNull();
    expect(t.engine.sent('configure')).toEqual([{ type: 'configure', config: t.s().config }]);
  });

  test('the lifecycle: loaded files end the waiting and the resume offer; elsewhere they change nothing', () => {
    expect(transition({ state: 'waiting', datasetLoaded: true, checkpointAnswered: false }, { type: 'imported' })).toEqual({ next: { state: 'ready' }, effects: [] });
    expect(transition({ state: 'offering-resume', checkpoint: CHECKPOINT, datasetLoaded: true }, { type: 'imported' })).toEqual({ next: { state: 'ready' }, effects: [] });
    const ready: Lifecycle = { state: 'ready' };
    expect(transition(ready, { type: 'imported' }).next).toBe(ready);
    const lost: Lifecycle = { state: 'device-lost', message: 'x' };
    expect(transition(lost, { type: 'imported' })).toEqual({ next: lost, effects: [] });
  });
});
