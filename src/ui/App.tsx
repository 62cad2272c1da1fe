// The playground: masthead, the WebGPU status bar, banners, the control panel beside the
// transport and the six views (dashboard, fixed-point explorer, collapse lab, method arena,
// cluster gallery, embedding map), and the GPU self-test card. Components read the store and call its actions.
import { useEffect } from 'react';
import { useApp, useStoreApi, GEMM_CHECK_SIZE, type GpuState, type Tab } from './store.ts';
import { WebGPUHelp } from './WebGPUHelp.tsx';
import { CollapseWarnings, DeviceLost, Notices, ResumeOffer, SoftwareNotice, TrainErrorBanner } from './Banners.tsx';
import { Arena } from './Arena.tsx';
import { CollapseLab } from './CollapseLab.tsx';
import { Controls } from './Controls.tsx';
import { Dashboard } from './Dashboard.tsx';
import { Explorer } from './Explorer.tsx';
import { Gallery } from './Gallery.tsx';
import { EmbeddingMapPanel } from './EmbeddingMap.tsx';
import { ExportBar, TrainBar } from './TrainBar.tsx';
import type { GemmCheckResult } from '../worker/protocol.ts';

export function App() {
  const gpu = useApp((s) => s.gpu);
  const tab = useApp((s) => s.tab);
  useKeyboard();
  const running = gpu.status === 'ready';
  return (
    <div className="app app-wide">
      <header className="masthead">
        <h1>
          <span className="logo" aria-hidden="true">
            M
          </span>
          MIRA Playground
        </h1>
        <p className="tagline">
          Train a small ResNet-18 without labels by Mutual Information Regularized Assignment, every number computed by hand-written WebGPU
          kernels, live in this tab.
        </p>
      </header>
      <StatusBar gpu={gpu} />
      <main className="content">
        {gpu.status === 'unavailable' && <WebGPUHelp reason={gpu.reason} hint={gpu.hint} />}
        {gpu.status === 'failed' && (
          <section className="panel panel-error" role="alert" data-testid="engine-error">
            <h2>The GPU engine stopped</h2>
            <pre className="error-text">{gpu.error}</pre>
            <button type="button" className="button" onClick={() => location.reload()}>
              Reload
            </button>
          </section>
        )}
        <DeviceLost />
        {(running || gpu.status === 'starting') && (
          <>
            <SoftwareNotice />
            <ResumeOffer />
            <Notices />
            <div className="workspace">
              <Controls />
              <div className="main-column">
                <TrainBar />
                <TrainErrorBanner />
                <CollapseWarnings />
                <Tabs />
                <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-panel">
                  {tab === 'dashboard' && (
                    <>
                      <Dashboard />
                      <ExportBar />
                    </>
                  )}
                  {tab === 'explorer' && <Explorer />}
                  {tab === 'lab' && <CollapseLab />}
                  {tab === 'arena' && <Arena />}
                  {tab === 'gallery' && <Gallery />}
                  {tab === 'map' && <EmbeddingMapPanel />}
                </div>
              </div>
            </div>
            <SelfTestCard />
          </>
        )}
      </main>
      <footer className="footer">
        Lee et al., <em>Unsupervised Visual Representation Learning via Mutual Information Regularized Assignment</em>, NeurIPS 2022. Keys: space play/pause, n step
        batch, i step iteration.
      </footer>
    </div>
  );
}

const TABS: { id: Tab; label: string }[] = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'explorer', label: 'Fixed-point explorer' },
  { id: 'lab', label: 'Collapse lab' },
  { id: 'arena', label: 'Method arena' },
  { id: 'gallery', label: 'Cluster gallery' },
  { id: 'map', label: 'Embedding map' },
];

function Tabs() {
  const tab = useApp((s) => s.tab);
  const setTab = useApp((s) => s.setTab);
  return (
    <div className="tabs" role="tablist" aria-label="Views">
      {TABS.map((t) => (
        <button
          key={t.id}
          type="button"
          role="tab"
          id={`tab-${t.id}`}
          aria-selected={tab === t.id}
          aria-controls={`panel-${t.id}`}
          className={`tab ${tab === t.id ? 'tab-active' : ''}`}
          onClick={() => setTab(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

/** Space: play/pause; n: step batch; i: step iteration (explorer). Not while typing. */
function useKeyboard(): void {
  const store = useStoreApi();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName))) return;
      const s = store.getState();
      if (e.key === ' ') {
        // Let a focused button take its own space press.
        if (t && t.tagName === 'BUTTON') return;
        e.preventDefault();
        s.togglePlay();
      } else if (e.key === 'n' || e.key === 'N') {
        s.stepBatch();
      } else if (e.key === 'i' || e.key === 'I') {
        s.explorerStep();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);
}

function StatusBar({ gpu }: { gpu: GpuState }) {
  let dot = 'dot-wait';
  let text = 'Starting the GPU engine…';
  if (gpu.status === 'ready') {
    dot = gpu.adapter.isSoftware ? 'dot-soft' : 'dot-ok';
    text = gpu.adapter.name;
  } else if (gpu.status === 'unavailable') {
    dot = 'dot-bad';
    text = 'No WebGPU adapter';
  } else if (gpu.status === 'failed') {
    dot = 'dot-bad';
    text = 'GPU engine failed';
  }
  const features =
    gpu.status === 'ready'
      ? (
          [
            ['timestampQuery', 'timestamp-query'],
            ['shaderF16', 'shader-f16'],
            ['subgroups', 'subgroups'],
          ] as const
        ).filter(([k]) => gpu.adapter.features[k])
      : [];
  return (
    <div className="statusbar" role="status" data-testid="statusbar" data-gpu-status={gpu.status}>
      <span className={`dot ${dot}`} aria-hidden="true" />
      <span className="status-label">WebGPU</span>
      <span className="adapter" data-testid="adapter-name" title={gpu.status === 'ready' ? gpu.adapter.name : undefined}>
        {text}
      </span>
      {gpu.status === 'ready' && (
        <span className={`badge ${gpu.adapter.isSoftware ? 'badge-soft' : 'badge-hw'}`} data-testid="adapter-kind">
          {gpu.adapter.isSoftware ? 'emulated on CPU' : 'hardware GPU'}
        </span>
      )}
      <span className="spacer" />
      {features.map(([k, label]) => (
        <span key={k} className="chip">
          {label}
        </span>
      ))}
    </div>
  );
}

function SelfTestCard() {
  const ready = useApp((s) => s.gpu.status === 'ready');
  const check = useApp((s) => s.gemmCheck);
  const run = useApp((s) => s.runGemmCheck);
  const loseDevice = useApp((s) => s.simulateDeviceLoss);
  const n = GEMM_CHECK_SIZE;
  return (
    <section className="card selftest" aria-labelledby="selftest-title">
      <div className="card-head">
        <h2 id="selftest-title">GPU self-test</h2>
        {check.status === 'done' && <Verdict pass={check.result.pass} />}
      </div>
      <p className="muted">
        Multiplies two {n}×{n} matrices with each GEMM kernel — tiled, direct and naive — in the engine worker, and compares every entry with a
        float64 product computed on the CPU.
      </p>
      <div className="actions">
        <button type="button" className="button button-primary" data-testid="gemm-run" disabled={!ready || check.status === 'running'} onClick={run}>
          {check.status === 'running' ? 'Running…' : 'Run GEMM check'}
        </button>
        <button type="button" className="button button-small" disabled={!ready} onClick={loseDevice} title="Destroys the GPU device as a driver reset would, to try the recovery path" data-testid="simulate-device-loss">
          Simulate a lost device
        </button>
        {check.status === 'done' && (
          <span className="summary">
            max error <strong data-testid="gemm-max-error">{check.result.maxError.toExponential(2)}</strong>
            <span className="muted"> (tolerance {check.result.tolerance.toExponential(0)})</span>
          </span>
        )}
      </div>
      {check.status === 'done' && <CheckTable result={check.result} />}
      {check.status === 'error' && (
        <pre className="error-text" role="alert" data-testid="gemm-error">
          {check.error}
        </pre>
      )}
    </section>
  );
}

function Verdict({ pass }: { pass: boolean }) {
  return (
    <span className={`verdict ${pass ? 'verdict-pass' : 'verdict-fail'}`} data-testid="gemm-verdict">
      {pass ? 'PASS' : 'FAIL'}
    </span>
  );
}

function CheckTable({ result }: { result: GemmCheckResult }) {
  return (
    <table className="results">
      <thead>
        <tr>
          <th>kernel</th>
          <th className="num">max |GPU − CPU|</th>
          <th className="num">time</th>
          <th className="num">result</th>
        </tr>
      </thead>
      <tbody>
        {result.cases.map((c) => (
          <tr key={c.variant}>
            <td>
              <code>gemm.{c.variant}</code>
            </td>
            <td className="num">{c.maxError.toExponential(2)}</td>
            <td className="num">{c.ms.toFixed(1)} ms</td>
            <td className={`num ${c.pass ? 'ok' : 'bad'}`}>{c.pass ? 'pass' : 'fail'}</td>
          </tr>
        ))}
      </tbody>
      <caption>
        {result.M}×{result.N}×{result.K}, ran in the {result.ranIn === 'worker' ? 'engine worker' : result.ranIn}
      </caption>
    </table>
  );
}
