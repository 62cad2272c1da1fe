// The control panel: dataset (bundled sample, CIFAR-10 by drop or picker, or served), a checkpoint
// to continue from (model.safetensors and its optimizer.safetensors by drop or picker), preset,
// and every hyperparameter of TrainConfig with its range and a one-line explanation.
import { useId, useRef, useState, type DragEvent, type ReactNode } from 'react';
import type { TrainConfig } from '../train/config.ts';
import { fmtBytes, fmtWidth } from './format.ts';
import { GROUP_LABELS, PARAM_SPECS, PRESET_ORDER, PRESETS, coerceNumber, type ParamGroup, type ParamSpec } from './presets.ts';
import { methodsUsing } from '../train/config.ts';
import { checkRowValue, describeRange, type AdapterFeature } from '../methods/param-rows.ts';
import { methodById } from '../methods/registry.ts';
import { Formula } from './Formula.tsx';
import { useApp, usePendingChanges } from './store.ts';

export function Controls() {
  return (
    <aside className="controls" aria-label="Controls">
      <DatasetPanel />
      <CheckpointPanel />
      <PresetPanel />
      <ParamGroups />
    </aside>
  );
}

function DatasetPanel() {
  const dataset = useApp((s) => s.dataset);
  const load = useApp((s) => s.loadDataset);
  const dismissError = useApp((s) => s.dismissDatasetError);
  const ready = useApp((s) => s.gpu.status === 'ready');
  const info = dataset.info;
  const p = dataset.progress;
  const loading = p !== null;
  const onFiles = (files: FileList | null) => {
    if (files && files.length) load({ kind: 'files', files: Array.from(files) });
  };
  const cifarServed = dataset.served.find((f) => /cifar/i.test(f));
  return (
    <section className="panel-block" aria-labelledby="dataset-title">
      <h2 id="dataset-title">Dataset</h2>
      {info ? (
        <p className="dataset-info" data-testid="dataset-info">
          <strong>{info.name === 'fashion-mnist-sample' ? 'Fashion-MNIST sample' : info.name === 'cifar10' ? 'CIFAR-10' : info.name}</strong>
          <span className="muted">
            {' '}
            · {info.trainCount.toLocaleString('en-US')} train / {info.testCount.toLocaleString('en-US')} test · {info.height}×{info.width}×{info.channels} · {info.classes.length} classes
          </span>
        </p>
      ) : (
        !loading && <p className="muted">No dataset loaded.</p>
      )}
      {loading && (
        <div className="progress-line" data-testid="dataset-progress">
          <span className="muted small">
            {p.phase === 'reading' ? 'Reading' : 'Decoding'} {p.file}
            {p.total > 1 ? ` — ${fmtBytes(p.loaded)} of ${fmtBytes(p.total)}` : ''}
          </span>
          <progress max={p.total > 1 ? p.total : undefined} value={p.total > 1 ? p.loaded : undefined} aria-label="Dataset loading progress" />
        </div>
      )}
      <FileDropZone testid="dropzone" inputTestid="dataset-file" label="Dataset files" accept=".gz,.tgz,.tar,.bin,application/gzip" pickLabel="choose files" disabled={!ready} onFiles={onFiles}>
        Drop <code>cifar-10-binary.tar.gz</code> or its six <code>.bin</code> files here, or
      </FileDropZone>
      <div className="row-buttons">
        <button type="button" className="button button-small" disabled={!ready || loading || info?.name === 'fashion-mnist-sample'} onClick={() => load({ kind: 'bundled' })}>
          Bundled sample
        </button>
        {cifarServed && (
          <button type="button" className="button button-small" disabled={!ready || loading || info?.name === 'cifar10'} onClick={() => load({ kind: 'served', file: cifarServed })}>
            CIFAR-10 (found on the server)
          </button>
        )}
      </div>
      {dataset.error && (
        <div className="inline-error" role="alert" data-testid="dataset-error">
          <strong>Could not read {dataset.error.file ?? 'the dataset'}</strong>
          <p>{dataset.error.message}</p>
          {info && <p className="muted small">Still using {info.name}; nothing else changed.</p>}
          <button type="button" className="button button-small" onClick={dismissError}>
            Dismiss
          </button>
        </div>
      )}
    </section>
  );
}

function CheckpointPanel() {
  const checkpoint = useApp((s) => s.checkpoint);
  const importFiles = useApp((s) => s.importCheckpoint);
  const dismiss = useApp((s) => s.dismissCheckpointRefusal);
  const ready = useApp((s) => s.gpu.status === 'ready' && s.dataset.status === 'ready');
  const onFiles = (files: FileList | null) => {
    if (files && files.length) importFiles(Array.from(files));
  };
  const refused = checkpoint.refused;
  return (
    <section className="panel-block" aria-labelledby="checkpoint-title">
      <h2 id="checkpoint-title">Checkpoint</h2>
      <FileDropZone
        testid="checkpoint-dropzone"
        inputTestid="checkpoint-file"
        label="Checkpoint files"
        accept=".safetensors,.npy"
        pickLabel="Load checkpoint…"
        disabled={!ready || checkpoint.importing !== null}
        dropDisabled={!ready}
        onFiles={onFiles}
      >
        Continue a run: drop its <code>model.safetensors</code> (and <code>optimizer.safetensors</code>) here, or
      </FileDropZone>
      {checkpoint.importing && (
        <p className="muted small" data-testid="checkpoint-importing">
          Checking {checkpoint.importing.files}…
        </p>
      )}
      {refused && (
        <div className="inline-error" role="alert" data-testid="checkpoint-error" data-origin={refused.origin}>
          <strong>{refused.origin === 'browser' ? 'The checkpoint saved in this browser was not loaded' : `Could not load ${refused.file}`}</strong>
          <p>{refused.message}</p>
          <p className="muted small">{refused.origin === 'browser' ? 'Training starts from the page’s configuration instead.' : 'The run on the page is unchanged.'}</p>
          <button type="button" className="button button-small" onClick={dismiss}>
            Dismiss
          </button>
        </div>
      )}
    </section>
  );
}

/** A drop zone with a hidden file input behind a link-style button: the dataset's and the checkpoint's. */
function FileDropZone({
  testid,
  inputTestid,
  label,
  accept,
  pickLabel,
  disabled,
  dropDisabled = false,
  onFiles,
  children,
}: {
  testid: string;
  inputTestid: string;
  label: string;
  accept: string;
  pickLabel: string;
  disabled: boolean;
  dropDisabled?: boolean;
  onFiles: (files: FileList | null) => void;
  children: ReactNode;
}) {
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  return (
    <div
      className={`dropzone ${over ? 'dropzone-over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e: DragEvent) => {
        e.preventDefault();
        setOver(false);
        if (!dropDisabled) onFiles(e.dataTransfer.files);
      }}
      data-testid={testid}
    >
      <span>
        {children}{' '}
        <button type="button" className="linkish" onClick={() => input.current?.click()} disabled={disabled}>
          {pickLabel}
        </button>
      </span>
      <input
        ref={input}
        type="file"
        multiple
        hidden
        data-testid={inputTestid}
        aria-label={label}
        accept={accept}
        onChange={(e) => {
          onFiles(e.target.files);
          e.target.value = '';
        }}
      />
    </div>
  );
}

function PresetPanel() {
  const preset = useApp((s) => s.preset);
  const setPreset = useApp((s) => s.setPreset);
  const id = useId();
  return (
    <section className="panel-block" aria-labelledby={`${id}-t`}>
      <h2 id={`${id}-t`}>Preset</h2>
      <select id={id} className="select" aria-label="Preset" value={preset} onChange={(e) => setPreset(e.target.value as typeof preset)} data-testid="preset">
        {PRESET_ORDER.map((n) => (
          <option key={n} value={n}>
            {PRESETS[n].label}
          </option>
        ))}
      </select>
      <p className="help">{PRESETS[preset].blurb}</p>
    </section>
  );
}

const GROUPS: ParamGroup[] = ['run', 'model', 'optimizer', 'method', 'logging'];

function ParamGroups() {
  const pending = usePendingChanges();
  const step = useApp((s) => s.train.step);
  const reset = useApp((s) => s.reset);
  const method = useApp((s) => s.config.method);
  return (
    <section className="panel-block" aria-label="Hyperparameters">
      {pending && (
        <div className="pending" role="status" data-testid="pending-changes">
          {step > 0 ? 'Changed settings apply to a new run.' : 'Changed settings apply on Play.'}
          {step > 0 && (
            <button type="button" className="button button-small" onClick={reset}>
              Reset to apply
            </button>
          )}
        </div>
      )}
      {GROUPS.map((g) => (
        <details key={g} className="param-group" open={g === 'run' || g === 'method'}>
          <summary>{GROUP_LABELS[g]}</summary>
          {g === 'method' && <MethodObjective method={method} />}
          {PARAM_SPECS.filter((p) => p.group === g && methodsUsing(p.key).includes(method)).map((spec) => (
            <ParamField key={spec.key} spec={spec} />
          ))}
        </details>
      ))}
    </section>
  );
}

/** The method's explanation, its objective typeset by KaTeX, and what to watch for. */
function MethodObjective({ method }: { method: TrainConfig['method'] }) {
  const m = methodById(method);
  return (
    <div className="method-objective">
      <p className="help method-explanation" data-testid="method-explanation">
        {m.explanation}
      </p>
      <Formula tex={m.formula} label={`${m.label} objective`} testId="method-formula" />
      <p className="help method-watch" data-testid="method-watch">
        {m.watch}
      </p>
    </div>
  );
}

function ParamField({ spec }: { spec: ParamSpec }) {
  const value = useApp((s) => s.config[spec.key]);
  const setParam = useApp((s) => s.setParam);
  const id = useId();
  const [draft, setDraft] = useState<string | null>(null);
  const set = (v: unknown) => setParam(spec.key, v as TrainConfig[typeof spec.key]);
  let control;
  const options = spec.options as readonly { value: string | number; label: string; requires?: AdapterFeature }[] | undefined;
  // A choice that needs an adapter feature this adapter lacks is shown, disabled (once the adapter is known).
  const features = useApp((s) => (s.gpu.status === 'ready' ? s.gpu.adapter.features : null));
  if (options) {
    // A choice, or a number the page offers a few values of (a value set elsewhere, e.g. by the URL, is kept).
    const shown = options.some((o) => o.value === value) ? options : [...options, { value: value as string | number, label: String(value) }];
    control = (
      <select
        id={id}
        className="select"
        value={String(value)}
        onChange={(e) => {
          const opt = shown.find((o) => String(o.value) === e.target.value);
          if (opt) set(opt.value);
        }}
      >
        {shown.map((o) => (
          <option key={String(o.value)} value={String(o.value)} disabled={!!(o.requires && features && !features[o.requires] && o.value !== value)}>
            {o.label}
          </option>
        ))}
      </select>
    );
  } else if (spec.kind !== 'choice') {
    const commit = (text: string) => {
      const v = coerceNumber(spec, Number(text));
      if (v !== null) set(v);
      setDraft(null);
    };
    control = (
      <input
        id={id}
        type="number"
        className="num-input"
        min={spec.min}
        max={spec.max}
        step={spec.step}
        value={draft ?? String(value)}
        onChange={(e) => {
          setDraft(e.target.value);
          const v = Number(e.target.value);
          if (e.target.value !== '' && checkRowValue(spec, spec.kind === 'int' ? Math.round(v) : v) === null) set(spec.kind === 'int' ? Math.round(v) : v);
        }}
        onBlur={(e) => commit(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit((e.target as HTMLInputElement).value);
        }}
      />
    );
  }
  const range = spec.kind === 'choice' || options ? null : describeRange(spec);
  return (
    <div className="field" data-param={spec.key}>
      <label htmlFor={id}>
        {spec.label}
        {spec.key === 'width' && typeof value === 'number' && <span className="muted"> ({fmtWidth(value)})</span>}
      </label>
      {control}
      <p className="help">
        {spec.help}
        {range && <span className="range"> [{range}]</span>}
      </p>
    </div>
  );
}
