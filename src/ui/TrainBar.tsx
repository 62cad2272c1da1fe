// The transport (Play, Pause, Step batch, Reset), the run's status (step, epoch, images/s,
// ETA, progress) and the exports.
import { methodsUsing } from '../train/config.ts';
import { fmt, fmtDuration, fmtWidth, METHOD_LABELS } from './format.ts';
import { PauseIcon, PlayIcon, ResetIcon, StepIcon } from './icons.tsx';
import { useApp } from './store.ts';

export function TrainBar() {
  const train = useApp((s) => s.train);
  const datasetReady = useApp((s) => s.dataset.status === 'ready');
  const gpuReady = useApp((s) => s.gpu.status === 'ready');
  const play = useApp((s) => s.play);
  const pause = useApp((s) => s.pause);
  const stepBatch = useApp((s) => s.stepBatch);
  const reset = useApp((s) => s.reset);
  const lastSaved = useApp((s) => s.checkpoint.lastSaved);
  const labRunning = useApp((s) => s.lab.running);
  const cfg = train.config;
  const playing = train.phase === 'playing';
  const building = train.phase === 'building';
  const canRun = gpuReady && datasetReady && !building && !labRunning && train.phase !== 'done';
  const frac = train.totalSteps > 0 ? train.step / train.totalSteps : 0;
  return (
    <section className="trainbar" aria-label="Training">
      <div className="transport" role="toolbar" aria-label="Transport">
        <button type="button" className="button button-primary tbtn" aria-label="Play" title="Play (space)" disabled={!canRun || playing} onClick={play} data-testid="play">
          <PlayIcon /> Play
        </button>
        <button type="button" className="button tbtn" aria-label="Pause" title="Pause (space)" disabled={!playing} onClick={pause} data-testid="pause">
          <PauseIcon /> Pause
        </button>
        <button type="button" className="button tbtn" aria-label="Step batch" title="One training step (n)" disabled={!canRun || playing} onClick={stepBatch} data-testid="step-batch">
          <StepIcon /> Step batch
        </button>
        <button type="button" className="button tbtn" aria-label="Reset" title="A fresh run with the panel's settings" disabled={!gpuReady || !datasetReady || building || labRunning} onClick={reset} data-testid="reset">
          <ResetIcon /> Reset
        </button>
      </div>
      <div className="run-status" data-testid="train-status" data-phase={train.phase} data-step={train.step} data-startup={train.startup ? JSON.stringify(train.startup) : undefined}>
        <div className="run-figures">
          <Figure label="step" value={`${train.step.toLocaleString('en-US')} / ${train.totalSteps.toLocaleString('en-US')}`} testid="status-step" />
          <Figure label="epoch" value={fmt(train.epoch, 3)} />
          <Figure label="images/s" value={train.imagesPerS > 0 ? fmt(train.imagesPerS, 3) : '–'} />
          <Figure label="ETA" value={playing ? fmtDuration(train.etaS) : '–'} />
          <span className={`phase phase-${train.phase}`} data-testid="phase">
            {building ? (train.detail ?? 'building') : train.phase === 'idle' ? (train.detail ?? 'idle') : train.phase}
          </span>
        </div>
        <div className="progress-track" role="progressbar" aria-label="Training progress" aria-valuemin={0} aria-valuemax={train.totalSteps} aria-valuenow={train.step}>
          <div className={`progress-fill ${building ? 'progress-indeterminate' : ''}`} style={{ width: building ? '30%' : `${Math.min(100, frac * 100)}%` }} />
        </div>
        {cfg && (
          <p className="run-config muted small">
            {METHOD_LABELS[cfg.method]} · width {fmtWidth(cfg.width)} · batch {cfg.batch}{methodsUsing('prototypes').includes(cfg.method) ? ` · K ${cfg.prototypes}` : ''} · projector {cfg.projHidden}→{cfg.projOut} · seed {cfg.seed}
            {lastSaved && <> · checkpoint at step {lastSaved.step}</>}
          </p>
        )}
      </div>
    </section>
  );
}

function Figure({ label, value, testid }: { label: string; value: string; testid?: string }) {
  return (
    <span className="figure">
      <span className="figure-label">{label}</span>
      <span className="figure-value" data-testid={testid}>
        {value}
      </span>
    </span>
  );
}

export function ExportBar() {
  const exportFile = useApp((s) => s.exportFile);
  const evaluate = useApp((s) => s.evaluateKnn);
  const hasRun = useApp((s) => s.train.config !== null && s.train.phase !== 'building');
  const hasMetrics = useApp((s) => s.series.length > 0);
  const stepped = useApp((s) => s.train.step > 0);
  const playing = useApp((s) => s.train.phase === 'playing');
  return (
    <div className="exportbar" role="group" aria-label="Exports">
      <button type="button" className="button button-small" disabled={!hasRun || playing} onClick={evaluate}>
        Evaluate kNN now
      </button>
      <span className="spacer" />
      <span className="muted small">Export</span>
      <button type="button" className="button button-small" disabled={!hasMetrics} onClick={() => exportFile('metrics-csv')}>
        Metrics CSV
      </button>
      <button type="button" className="button button-small" disabled={!hasMetrics} onClick={() => exportFile('metrics-json')}>
        Metrics JSON
      </button>
      <button type="button" className="button button-small" disabled={!stepped} onClick={() => exportFile('pseudo-labels')} title="The latest batch's targets, B×K float32">
        Pseudo-labels .npy
      </button>
      <button type="button" className="button button-small" disabled={!hasRun} onClick={() => exportFile('weights')} title="PyTorch names and layouts (safetensors)">
        Weights .safetensors
      </button>
    </div>
  );
}
