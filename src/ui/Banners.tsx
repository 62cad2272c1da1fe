// Everything the page has to say outside the charts: an emulated GPU, a checkpoint to resume,
// a lost device, a NaN in training, collapse warnings, and passing notices.
import { useEffect, useRef } from 'react';
import { fmtDuration, fmtWidth, METHOD_LABELS } from './format.ts';
import { deviceLostMessage, resumeOffer, useApp } from './store.ts';

export function SoftwareNotice() {
  const soft = useApp((s) => s.gpu.status === 'ready' && s.gpu.adapter.isSoftware);
  const preset = useApp((s) => s.preset);
  if (!soft) return null;
  return (
    <div className="banner banner-warn banner-compact" role="note" data-testid="software-notice">
      <span>
        <strong>The GPU is emulated on the CPU.</strong> Every kernel runs as on a graphics card, only far slower: a training step takes seconds.{' '}
        {preset === 'tiny' ? 'The tiny preset is selected; it still shows learning within minutes.' : 'Pick the tiny preset here.'}
      </span>
    </div>
  );
}

function ago(t: number): string {
  return fmtDuration((Date.now() - t) / 1000) + ' ago';
}

export function ResumeOffer() {
  const offered = useApp((s) => resumeOffer(s.lifecycle));
  const resume = useApp((s) => s.resumeCheckpoint);
  const fresh = useApp((s) => s.startFresh);
  const datasetReady = useApp((s) => s.dataset.status === 'ready');
  if (!offered) return null;
  const c = offered.config;
  return (
    <div className="banner banner-info" role="region" aria-label="Resume" data-testid="resume-offer">
      <div>
        <strong>Resume the last run?</strong> A checkpoint from step {offered.step.toLocaleString('en-US')} is saved in this browser ({ago(offered.savedAt)}):{' '}
        {METHOD_LABELS[c.method]}, width {fmtWidth(c.width)}, batch {c.batch}, K {c.prototypes}, seed {c.seed}, on {offered.dataset}.
      </div>
      <div className="banner-actions">
        <button type="button" className="button button-primary button-small" disabled={!datasetReady} onClick={resume} data-testid="resume">
          Resume
        </button>
        <button type="button" className="button button-small" disabled={!datasetReady} onClick={fresh}>
          Start fresh
        </button>
      </div>
    </div>
  );
}

export function DeviceLost() {
  const lost = useApp((s) => deviceLostMessage(s.lifecycle));
  const info = useApp((s) => s.checkpoint.info);
  const recover = useApp((s) => s.recoverDevice);
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (lost) ref.current?.scrollIntoView({ block: 'start' });
  }, [lost]);
  if (!lost) return null;
  return (
    <section ref={ref} className="panel panel-error" role="alert" data-testid="device-lost">
      <h2>The GPU device was lost</h2>
      <p>
        The browser took the GPU away ({lost}). This happens when the driver resets, the GPU runs out of memory, or the tab sleeps for long.
        {info ? ` The last checkpoint is from step ${info.step.toLocaleString('en-US')}.` : ' There is no checkpoint to go back to.'}
      </p>
      <button type="button" className="button button-primary" onClick={recover} data-testid="recover">
        {info ? `Resume from step ${info.step.toLocaleString('en-US')}` : 'Restart the engine'}
      </button>
    </section>
  );
}

export function TrainErrorBanner() {
  const err = useApp((s) => s.trainError);
  const dismiss = useApp((s) => s.dismissTrainError);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (err) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [err]);
  if (!err) return null;
  const title = err.kind === 'nan' ? `NaN in training: ${err.metric} at step ${err.step}` : err.kind === 'build' ? 'The trainer could not be built' : err.kind === 'checkpoint' ? 'Checkpoint not saved' : 'A training step failed';
  return (
    <div ref={ref} className="banner banner-error" role="alert" data-testid="train-error" data-kind={err.kind}>
      <div>
        <strong>{title}.</strong> {err.message}
      </div>
      <button type="button" className="button button-small" onClick={dismiss} aria-label="Dismiss">
        Dismiss
      </button>
    </div>
  );
}

export function CollapseWarnings() {
  const warnings = useApp((s) => s.warnings);
  if (!warnings.length) return null;
  return (
    <div className="banner banner-warn" role="alert" data-testid="collapse-warning">
      <strong>Collapse warning.</strong> {warnings.map((w) => w.text).join(' ')}
    </div>
  );
}

export function Notices() {
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismissNotice);
  if (!notices.length) return null;
  return (
    <div className="notices">
      {notices.map((n) => (
        <div key={n.id} className={`banner ${n.kind === 'error' ? 'banner-error' : 'banner-info'}`} role={n.kind === 'error' ? 'alert' : 'status'}>
          <div>{n.text}</div>
          <button type="button" className="button button-small" onClick={() => dismiss(n.id)} aria-label="Dismiss">
            Dismiss
          </button>
        </div>
      ))}
    </div>
  );
}
