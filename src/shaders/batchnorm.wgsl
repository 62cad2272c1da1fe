// Batch normalisation over the rows of an R×C matrix (NHWC activations: R = N·H·W for BN 2d,
// R = N for BN 1d), per channel c:
//   training  mean_c, var_c over the R rows (biased), invstd_c = 1/sqrt(var_c + EPS)
//             y = γ_c·(x − mean_c)·invstd_c + β_c   [+ residual]   [ReLU]
//             running_mean ← (1−MOMENTUM)·running_mean + MOMENTUM·mean
//             running_var  ← (1−MOMENTUM)·running_var  + MOMENTUM·var·R/(R−1)   (unbiased, as PyTorch)
//   eval      the same affine map from the running statistics
//   backward  g = dy·[y > 0] (when ReLU is fused: the mask comes from the saved output y)
//             dβ = Σ g, dγ = Σ g·x̂, dx = γ·invstd·(g − dβ/R − x̂·dγ/R), d residual = g
//
// The host prepends `alias V = vec4<f32>;` (C % 4 == 0: each lane holds 4 channels) or
// `alias V = f32;`; CL is C divided by the lane width. It also prepends the activations' storage
// type S (x, y, residual): `alias S = V;`, or on the f16 path vec4<f16> / f16 (with `enable f16;`);
// every activation load is widened with V(·) and every store rounded with S(·), so all the math
// is f32 either way (for S = V both are identities: the f32 kernels compute exactly as before). Every storage buffer a caller provides is
// declared read_write: WebGPU forbids a read-only and a writable binding of one buffer in the same
// dispatch, and the planner keeps all activations in one buffer.
//
// Per-channel reductions run in two passes, never a serial loop over R in one thread:
//   *_partial  grid (⌈CL/TX⌉, NB): workgroup (TX lanes × TY rows) reduces its block of RPB rows
//              (each thread strides by TY; one barrier; thread (x, 0) sums the TY partials of
//              its lane from workgroup memory) into work[block][lane];
//   *_final    grid (⌈CL/TX⌉, 1): the same over the NB block partials, then the epilogue.
// Both fixed-order: same input, same bits. One barrier per kernel: CPU emulators (lavapipe,
// SwiftShader) pay for every barrier in compile time and run time, while a GPU hardly notices
// TY ≤ 64 serial adds from workgroup memory. With TY = 1 (the host's 'direct' variant for
// emulators) the barrier folds away: each thread reduces a block of rows of its lane alone
// (still two passes, never one thread over all R rows); the pipelines compile ~5× faster there.
// The batch statistics come from sums shifted by a pivot (row 0 of each channel), so a large
// common offset does not cancel the variance away (as E[x²] − E[x]² would in f32).
//
// work (array<V>, owned by the host's bound pass), in units of CL lanes:
//   [0]                 pivot (forward)
//   [1 .. 1+NB)         first sums  (forward Σ(x−pivot); backward Σg)
//   [1+NB .. 1+2NB)     second sums (forward Σ(x−pivot)²; backward Σg·(x−mean))
//   [1+2NB .. 1+2NB+3)  coefficients (forward scale, shift; backward k1, k2, k3 with
//                       dx = k1·g + k2·x + k3)
//
// Entry points (bindings numbered per entry point, in the order the host binds them):
//   stats_partial  x, work
//   stats_groups   groups, work                    (instead of stats_partial: the producer's partial statistics;
//                                                  in batchnorm_groups.wgsl, appended only for such a layer)
//   stats_final    work, gamma, beta, running_mean, running_var, mean, invstd
//   eval_coef      gamma, beta, running_mean, running_var, work
//   apply          x, work, residual, y            (residual bound to a dummy unless RESIDUAL)
//   bwd_partial    x, dy, y, mean, work, coef      (y a dummy unless RELU and not MASK_FROM_COEF; coef, the
//                                                  forward's work, a dummy unless MASK_FROM_COEF)
//   bwd_final      work, gamma, mean, invstd, dgamma, dbeta   (= or += per ACCUM)
//   bwd_apply      x, dy, y, work, dx, dresidual, coef   (dresidual a dummy unless RES_GRAD; y, coef as in bwd_partial)

override R: u32;             // rows
override CL: u32;            // channel lanes
override TX: u32 = 16u;      // lanes per workgroup (power of two)
override TY: u32 = 16u;      // row threads per workgroup (power of two); TX·TY ≤ 256
override RPB: u32 = 256u;    // rows per block (partial passes)
override NB: u32 = 1u;       // blocks = ⌈R / RPB⌉
override EPS: f32 = 1e-5;
override MOMENTUM: f32 = 0.1;
override TRACK: bool = true;     // update the running statistics in training
override RELU: bool = false;     // fused ReLU after the (residual) add
override RESIDUAL: bool = false; // fused residual add before the ReLU
override RES_GRAD: bool = false; // backward also writes d residual = g
override ACCUM: bool = true;     // dgamma/dbeta: += (true) or = (false)
// The ReLU's mask from x and the forward's coefficients instead of the saved output: when the
// forward left y unstored (the next convolution applied the normalise + ReLU as it loaded x,
// src/nn/batchnorm.ts applyInConsumer), the host binds the forward's work buffer as `coef` and
// y > 0 ⟺ fma(x, scale, shift) > 0, the same fma as `apply`.
override MASK_FROM_COEF: bool = false;

const OFF_S1: u32 = 1u;
fn off_s2() -> u32 { return 1u + NB; }
fn off_coef() -> u32 { return 1u + 2u * NB; }

// NB, from the size of the work buffer ((1 + 2·NB + 3)·CL lanes: the host binds exactly that).
// The loop over the block partials takes its bound from here, and the row loops theirs from
// arrayLength(x) = R·CL, so that no trip count or upper bound of one is a compile-time constant:
// Mesa's NIR (lavapipe) unrolls such loops up to a few dozen iterations, which with vec4 lanes
// made single pipelines take 10–30 s to compile. No cost on a GPU.
fn blocks_of(work_lanes: u32) -> u32 { return (work_lanes / CL - 4u) / 2u; }

// block_sums(s1, s2, li, lx), called by every thread of the workgroup (uniform control flow), returns
// for the threads of row lid.y == 0 the sums of lane lx over the workgroup's TY row threads, in a
// fixed order. The host prepends one of its two versions (src/shaders/batchnorm_reduce.wgsl): through
// workgroup memory and one barrier ('tree', TY > 1), or the thread's own sums ('direct', TY = 1), whose
// module then holds no barrier and no workgroup memory at all: SwiftShader compiles a kernel with a
// barrier as a coroutine even when the barrier sits in a branch that TY = 1 makes dead (about 0.7 s
// per reduction pipeline there against 0.05 s without).

// ---------------------------------------------------------------- forward statistics, pass 1
@group(0) @binding(0) var<storage, read_write> sp_x: array<S>;
@group(0) @binding(1) var<storage, read_write> sp_work: array<V>;

@compute @workgroup_size(TX, TY)
fn stats_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  let r0 = wg.y * RPB;
  let r1 = min(arrayLength(&sp_x) / CL, r0 + RPB);   // = min(R, …), see blocks_of
  var s1 = V(0.0);
  var s2 = V(0.0);
  if (c < CL) {
    let p = V(sp_x[c]);
    for (var r = r0 + lid.y; r < r1; r += TY) {
      let d = V(sp_x[r * CL + c]) - p;
      s1 += d;
      s2 = fma(d, d, s2);
    }
    if (wg.y == 0u && lid.y == 0u) { sp_work[c] = p; }
  }
  let t = block_sums(s1, s2, li, lid.x);
  if (lid.y == 0u && c < CL) {
    sp_work[(OFF_S1 + wg.y) * CL + c] = t[0];
    sp_work[(off_s2() + wg.y) * CL + c] = t[1];
  }
}

// ---------------------------------------------------------------- forward statistics, pass 2
@group(0) @binding(0) var<storage, read_write> sf_work: array<V>;
@group(0) @binding(1) var<storage, read_write> sf_gamma: array<V>;
@group(0) @binding(2) var<storage, read_write> sf_beta: array<V>;
@group(0) @binding(3) var<storage, read_write> sf_rmean: array<V>;
@group(0) @binding(4) var<storage, read_write> sf_rvar: array<V>;
@group(0) @binding(5) var<storage, read_write> sf_mean: array<V>;
@group(0) @binding(6) var<storage, read_write> sf_invstd: array<V>;

@compute @workgroup_size(TX, TY)
fn stats_final(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  var s1 = V(0.0);
  var s2 = V(0.0);
  if (c < CL) {
    let nb = blocks_of(arrayLength(&sf_work));
    for (var b = lid.y; b < nb; b += TY) {
      s1 += sf_work[(OFF_S1 + b) * CL + c];
      s2 += sf_work[(off_s2() + b) * CL + c];
    }
  }
  let t = block_sums(s1, s2, li, lid.x);
  if (lid.y == 0u && c < CL) {
    let n = f32(R);
    let d = t[0] / n;                              // mean − pivot
    let var_b = max(t[1] / n - d * d, V(0.0));     // biased variance
    let mean = sf_work[c] + d;
    let invstd = 1.0 / sqrt(var_b + V(EPS));
    sf_mean[c] = mean;
    sf_invstd[c] = invstd;
    if (TRACK) {
      let unbiased = var_b * (n / (n - 1.0));
      sf_rmean[c] = (1.0 - MOMENTUM) * sf_rmean[c] + MOMENTUM * mean;
      sf_rvar[c] = (1.0 - MOMENTUM) * sf_rvar[c] + MOMENTUM * unbiased;
    }
    let scale = sf_gamma[c] * invstd;
    sf_work[off_coef() * CL + c] = scale;
    sf_work[(off_coef() + 1u) * CL + c] = sf_beta[c] - mean * scale;
  }
}

// ---------------------------------------------------------------- evaluation coefficients
@group(0) @binding(0) var<storage, read_write> ec_gamma: array<V>;
@group(0) @binding(1) var<storage, read_write> ec_beta: array<V>;
@group(0) @binding(2) var<storage, read_write> ec_rmean: array<V>;
@group(0) @binding(3) var<storage, read_write> ec_rvar: array<V>;
@group(0) @binding(4) var<storage, read_write> ec_work: array<V>;

@compute @workgroup_size(64)
fn eval_coef(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= CL) { return; }
  let scale = ec_gamma[c] / sqrt(ec_rvar[c] + V(EPS));
  ec_work[off_coef() * CL + c] = scale;
  ec_work[(off_coef() + 1u) * CL + c] = ec_beta[c] - ec_rmean[c] * scale;
}

// ---------------------------------------------------------------- normalise (+ residual) (+ ReLU)
@group(0) @binding(0) var<storage, read_write> ap_x: array<S>;
@group(0) @binding(1) var<storage, read> ap_work: array<V>;
@group(0) @binding(2) var<storage, read_write> ap_res: array<S>;
@group(0) @binding(3) var<storage, read_write> ap_y: array<S>;

@compute @workgroup_size(256)
fn apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= R * CL) { return; }
  let c = i % CL;
  var v = fma(V(ap_x[i]), ap_work[off_coef() * CL + c], ap_work[(off_coef() + 1u) * CL + c]);
  if (RESIDUAL) { v += V(ap_res[i]); }
  if (RELU) { v = max(v, V(0.0)); }
  ap_y[i] = S(v);
}

// ---------------------------------------------------------------- backward, pass 1
@group(0) @binding(0) var<storage, read_write> bp_x: array<S>;
@group(0) @binding(1) var<storage, read_write> bp_dy: array<V>;
@group(0) @binding(2) var<storage, read_write> bp_y: array<S>;
@group(0) @binding(3) var<storage, read_write> bp_mean: array<V>;
@group(0) @binding(4) var<storage, read_write> bp_work: array<V>;
@group(0) @binding(5) var<storage, read_write> bp_coef: array<V>;

@compute @workgroup_size(TX, TY)
fn bwd_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  let r0 = wg.y * RPB;
  let r1 = min(arrayLength(&bp_x) / CL, r0 + RPB);   // = min(R, …), see blocks_of
  var s1 = V(0.0);
  var s2 = V(0.0);
  if (c < CL) {
    let m = bp_mean[c];
    for (var r = r0 + lid.y; r < r1; r += TY) {
      let i = r * CL + c;
      var g = bp_dy[i];
      if (RELU) {
        if (MASK_FROM_COEF) {
          g = select(V(0.0), g, fma(V(bp_x[i]), bp_coef[off_coef() * CL + c], bp_coef[(off_coef() + 1u) * CL + c]) > V(0.0));
        } else {
          g = select(V(0.0), g, V(bp_y[i]) > V(0.0));
        }
      }
      s1 += g;
      s2 = fma(g, V(bp_x[i]) - m, s2);
    }
  }
  let t = block_sums(s1, s2, li, lid.x);
  if (lid.y == 0u && c < CL) {
    bp_work[(OFF_S1 + wg.y) * CL + c] = t[0];
    bp_work[(off_s2() + wg.y) * CL + c] = t[1];
  }
}

// ---------------------------------------------------------------- backward, pass 2
@group(0) @binding(0) var<storage, read_write> bf_work: array<V>;
@group(0) @binding(1) var<storage, read_write> bf_gamma: array<V>;
@group(0) @binding(2) var<storage, read_write> bf_mean: array<V>;
@group(0) @binding(3) var<storage, read_write> bf_invstd: array<V>;
@group(0) @binding(4) var<storage, read_write> bf_dgamma: array<V>;
@group(0) @binding(5) var<storage, read_write> bf_dbeta: array<V>;

@compute @workgroup_size(TX, TY)
fn bwd_final(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  var s1 = V(0.0);
  var s2 = V(0.0);
  if (c < CL) {
    let nb = blocks_of(arrayLength(&bf_work));
    for (var b = lid.y; b < nb; b += TY) {
      s1 += bf_work[(OFF_S1 + b) * CL + c];
      s2 += bf_work[(off_s2() + b) * CL + c];
    }
  }
  let t = block_sums(s1, s2, li, lid.x);
  if (lid.y == 0u && c < CL) {
    let n = f32(R);
    let invstd = bf_invstd[c];
    let dbeta = t[0];
    let dgamma = t[1] * invstd;
    if (ACCUM) {
      bf_dgamma[c] = bf_dgamma[c] + dgamma;
      bf_dbeta[c] = bf_dbeta[c] + dbeta;
    } else {
      bf_dgamma[c] = dgamma;
      bf_dbeta[c] = dbeta;
    }
    // dx = k1·(g − dβ/R − x̂·dγ/R) with x̂ = (x − mean)·invstd, as k1·g + k2·x + k3.
    let k1 = bf_gamma[c] * invstd;
    let k2 = -k1 * invstd * dgamma / n;
    let k3 = -k1 * dbeta / n - k2 * bf_mean[c];
    bf_work[off_coef() * CL + c] = k1;
    bf_work[(off_coef() + 1u) * CL + c] = k2;
    bf_work[(off_coef() + 2u) * CL + c] = k3;
  }
}

// ---------------------------------------------------------------- backward, pass 3
@group(0) @binding(0) var<storage, read_write> ba_x: array<S>;
@group(0) @binding(1) var<storage, read_write> ba_dy: array<V>;
@group(0) @binding(2) var<storage, read_write> ba_y: array<S>;
@group(0) @binding(3) var<storage, read> ba_work: array<V>;
@group(0) @binding(4) var<storage, read_write> ba_dx: array<V>;
@group(0) @binding(5) var<storage, read_write> ba_dres: array<V>;
@group(0) @binding(6) var<storage, read_write> ba_coef: array<V>;

@compute @workgroup_size(256)
fn bwd_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= R * CL) { return; }
  let c = i % CL;
  var g = ba_dy[i];
  if (RELU) {
    if (MASK_FROM_COEF) {
      g = select(V(0.0), g, fma(V(ba_x[i]), ba_coef[off_coef() * CL + c], ba_coef[(off_coef() + 1u) * CL + c]) > V(0.0));
    } else {
      g = select(V(0.0), g, V(ba_y[i]) > V(0.0));
    }
  }
  let k = off_coef() * CL + c;
  ba_dx[i] = fma(ba_work[k], g, fma(ba_work[k + CL], V(ba_x[i]), ba_work[k + 2u * CL]));
  if (RES_GRAD) { ba_dres[i] = g; }
}
