// Principal components of a feature matrix, for the embedding map (host src/mira/pca.ts, float64
// reference src/ref/pca.ts): the top two eigenvectors of the covariance and every row projected on them.
//
//   pca_mean     per column d < D: m_d = (1/N) Σ_n X[n, d]
//   pca_cov      C[i, j] = Σ_n (X[n, i] − m_i)(X[n, j] − m_j) / max(N − 1, 1)   (D×D, 16×16 tiles)
//   power iteration   the top two eigenpairs of C, `iters` products each (the host's loop), the second component
//                orthogonalised against the first after every product (projected power
//                iteration, i.e. deflation): pca_start, then iters × (pca_matvec, pca_normalize),
//                then pca_matvec, pca_finish (λ_c = v_cᵀ C v_c, the residual ‖C v_c − λ_c v_c‖ / λ_1,
//                and tr C). Each v_c starts from a fixed hashed vector (pca_init, mirrored by the
//                reference) and ends with its largest-magnitude entry (lowest index on ties) positive.
//                eig = [v_1 (D), v_2 (D), λ_1, λ_2, tr C, residual_1, residual_2]
//   pca_project  per row n < N: Y[n, c] = Σ_d (X[n, d] − m_d) v_c[d]   (N×2)
//
// Every sum runs in a fixed order: the same input gives the same bits on one adapter. X is
// row-major N×D f32.

override N: u32;
override D: u32;
const TILE: u32 = 16u;

fn flat(wg: vec3<u32>, nwg: vec3<u32>, lid: u32, per: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * per + lid;
}

// ---------------------------------------------------------------- pca_mean
@group(0) @binding(0) var<storage, read> m_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> m_mean: array<f32>;

@compute @workgroup_size(64)
fn pca_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let d = flat(wg, nwg, lid, 64u);
  if (d >= D) { return; }
  var s = 0.0;
  for (var n = 0u; n < N; n++) { s += m_x[n * D + d]; }
  m_mean[d] = s / f32(N);
}

// ---------------------------------------------------------------- pca_cov
@group(0) @binding(0) var<storage, read> c_x: array<f32>;
@group(0) @binding(1) var<storage, read> c_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> c_cov: array<f32>;

var<workgroup> tile_i: array<array<f32, TILE>, TILE>;
var<workgroup> tile_j: array<array<f32, TILE>, TILE>;

@compute @workgroup_size(TILE, TILE)
fn pca_cov(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  // Thread (l.x, l.y) owns C[i, j] with i = wg.y·16 + l.y, j = wg.x·16 + l.x.
  let i = wg.y * TILE + l.y;
  let j = wg.x * TILE + l.x;
  var s = 0.0;
  for (var n0 = 0u; n0 < N; n0 += TILE) {
    // Rows n0 + l.y of the i-block's and the j-block's columns, centred; zeros past the edges.
    let n = n0 + l.y;
    let ci = wg.y * TILE + l.x;
    let cj = wg.x * TILE + l.x;
    var a = 0.0;
    var b = 0.0;
    if (n < N && ci < D) { a = c_x[n * D + ci] - c_mean[ci]; }
    if (n < N && cj < D) { b = c_x[n * D + cj] - c_mean[cj]; }
    tile_i[l.y][l.x] = a;
    tile_j[l.y][l.x] = b;
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) { s += tile_i[k][l.y] * tile_j[k][l.x]; }
    workgroupBarrier();
  }
  if (i < D && j < D) { c_cov[i * D + j] = s / f32(max(N, 2u) - 1u); }
}

// ---------------------------------------------------------------- the power iteration
// state = [v (D), w (D), v_1 (D)]; eig as above. Each power step is two dispatches, pca_matvec
// (w = C v, one thread per row) then pca_normalize (one thread: the O(D) sums in index order, as
// the reference sums them); COMP (0 or 1) selects the component. No workgroup barriers: between
// dispatches WebGPU makes the storage writes visible.
override COMP: u32 = 0u;

@group(0) @binding(0) var<storage, read> p_cov: array<f32>;
@group(0) @binding(1) var<storage, read_write> p_state: array<f32>;
@group(0) @binding(2) var<storage, read_write> p_eig: array<f32>;
// pca_start and pca_normalize bind the state alone.
@group(0) @binding(0) var<storage, read_write> s_state: array<f32>;

/** The starting vector's entry i of component c: a hashed value in [−½, ½), exact in f32 (24 bits / 2²⁴). */
fn pca_init(i: u32, c: u32) -> f32 {
  var h = i * 2654435761u + c * 40503u + 12345u;
  h = (h ^ (h >> 15u)) * 2246822519u;
  h = h ^ (h >> 13u);
  return f32(h >> 8u) / 16777216.0 - 0.5;
}

/** w = start vector of component COMP (then pca_normalize makes it v). */
@compute @workgroup_size(64)
fn pca_start(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid, 64u);
  if (i >= D) { return; }
  s_state[D + i] = pca_init(i, COMP);
}

/** w = C v, one row per thread (C symmetric, row-major). */
@compute @workgroup_size(64)
fn pca_matvec(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, nwg, lid, 64u);
  if (i >= D) { return; }
  var s = 0.0;
  for (var j = 0u; j < D; j++) { s += p_cov[i * D + j] * p_state[j]; }
  p_state[D + i] = s;
}

/** v = e/‖e‖ with e = w − (w·v_1) v_1 for the second component (e = w for the first); v is kept where e = 0. */
@compute @workgroup_size(1)
fn pca_normalize() {
  var d = 0.0;
  if (COMP == 1u) {
    for (var i = 0u; i < D; i++) { d += s_state[D + i] * s_state[2u * D + i]; }
  }
  var nn = 0.0;
  for (var i = 0u; i < D; i++) {
    let e = s_state[D + i] - d * s_state[2u * D + i];
    nn += e * e;
  }
  let nrm = sqrt(nn);
  if (nrm > 0.0) {
    for (var i = 0u; i < D; i++) { s_state[i] = (s_state[D + i] - d * s_state[2u * D + i]) / nrm; }
  }
}

/**
 * After a last pca_matvec (w = C v): the sign (largest |v_i| positive, lowest index on ties, w
 * flipped with it), λ = v·w, the residual ‖w − λ v‖ / λ_1, v into eig and (first component) into
 * v_1; tr C with the second component.
 */
@compute @workgroup_size(1)
fn pca_finish() {
  var top = 0u;
  for (var i = 1u; i < D; i++) {
    if (abs(p_state[i]) > abs(p_state[top])) { top = i; }
  }
  let sgn = select(1.0, -1.0, p_state[top] < 0.0);
  var lambda = 0.0;
  for (var i = 0u; i < D; i++) { lambda += p_state[i] * p_state[D + i]; }
  var r = 0.0;
  for (var i = 0u; i < D; i++) {
    let e = p_state[D + i] - lambda * p_state[i];
    r += e * e;
  }
  p_eig[2u * D + COMP] = lambda;
  let lambda1 = select(p_eig[2u * D], lambda, COMP == 0u);
  p_eig[2u * D + 3u + COMP] = sqrt(r) / max(lambda1, 1e-30);
  for (var i = 0u; i < D; i++) {
    let vi = sgn * p_state[i];
    p_eig[COMP * D + i] = vi;
    if (COMP == 0u) { p_state[2u * D + i] = vi; }
  }
  if (COMP == 1u) {
    var tr = 0.0;
    for (var i = 0u; i < D; i++) { tr += p_cov[i * D + i]; }
    p_eig[2u * D + 2u] = tr;
  }
}

// ---------------------------------------------------------------- pca_project
@group(0) @binding(0) var<storage, read> j_x: array<f32>;
@group(0) @binding(1) var<storage, read> j_mean: array<f32>;
@group(0) @binding(2) var<storage, read> j_eig: array<f32>;
@group(0) @binding(3) var<storage, read_write> j_y: array<f32>;

@compute @workgroup_size(64)
fn pca_project(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = flat(wg, nwg, lid, 64u);
  if (n >= N) { return; }
  var a = 0.0;
  var b = 0.0;
  for (var d = 0u; d < D; d++) {
    let x = j_x[n * D + d] - j_mean[d];
    a += x * j_eig[d];
    b += x * j_eig[D + d];
  }
  j_y[2u * n] = a;
  j_y[2u * n + 1u] = b;
}
