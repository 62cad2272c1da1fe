// The fixed-point explorer: MIRA's fixed point and Sinkhorn-Knopp on one batch of logits (the
// latest training batch or a synthetic one), stepped, converged or reset on the engine, with
// τ/β/ε sliders that re-solve at once and an optional float64 check on the CPU.
import type { ExplorerSource, ExplorerState } from '../../worker/protocol.ts';
import type { Slice, StoreContext } from './types.ts';

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

export interface ExplorerSlice {
  explorer: ExplorerUi;
  explorerLoad(source?: 'batch' | 'synthetic'): void;
  explorerSet(p: Partial<Pick<ExplorerUi, 'tau' | 'beta' | 'eps'>>): void;
  explorerSynthetic(p: Partial<ExplorerUi['synthetic']>): void;
  explorerStep(): void;
  explorerConverge(): void;
  explorerReset(): void;
  explorerVerify(on: boolean): void;
}

export function createExplorerSlice(ctx: StoreContext): Slice<ExplorerSlice, 'explorer' | 'explorer-busy' | 'explorer-error'> {
  /** Step, converge and reset mean nothing before a batch is loaded. */
  function sendIfLoaded(type: 'explorer-step' | 'explorer-converge' | 'explorer-reset'): void {
    if (ctx.get().explorer.state) ctx.send({ type });
  }
  return {
    state: {
      explorer: { state: null, busy: false, error: null, verify: false, tau: 0.225, beta: 0.7, eps: 0.05, source: 'synthetic', synthetic: { B: 64, K: 16, imbalance: 0.5, seed: 1 } },

      explorerLoad(source) {
        const s = ctx.get();
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
        ctx.set({ explorer: ex });
        ctx.send({ type: 'explorer-load', source: req, tau: ex.tau, beta: ex.beta, eps: ex.eps });
      },

      explorerSet(p) {
        const ex = { ...ctx.get().explorer, ...p };
        ctx.set({ explorer: ex });
        if (ex.state) ctx.send({ type: 'explorer-params', tau: ex.tau, beta: ex.beta, eps: ex.eps });
      },

      explorerSynthetic(p) {
        const ex = ctx.get().explorer;
        ctx.set({ explorer: { ...ex, synthetic: { ...ex.synthetic, ...p } } });
      },

      explorerStep: () => sendIfLoaded('explorer-step'),
      explorerConverge: () => sendIfLoaded('explorer-converge'),
      explorerReset: () => sendIfLoaded('explorer-reset'),

      explorerVerify(on) {
        ctx.set({ explorer: { ...ctx.get().explorer, verify: on } });
        ctx.send({ type: 'explorer-verify', on });
      },
    },

    on: {
      explorer(ev) {
        ctx.set({ explorer: { ...ctx.get().explorer, state: ev.state, error: null } });
      },
      'explorer-busy'(ev) {
        ctx.set({ explorer: { ...ctx.get().explorer, busy: ev.busy } });
      },
      'explorer-error'(ev) {
        ctx.set({ explorer: { ...ctx.get().explorer, error: ev.message } });
      },
    },

    restart: (s) => ({ explorer: { ...s.explorer, state: null, busy: false } }),
  };
}
