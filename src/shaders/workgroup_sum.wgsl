// Workgroup reductions in a fixed order, called by every thread (uniform control flow); li is the
// local_invocation_index of a TX × TY workgroup:
//   wg_sum(s, li, lx)    lane lx's values s summed over the TY row threads; valid in row 0
//                        (pool.wgsl, reduce.wgsl: columns)
//   row_sum(s, li, ty)   row ty's values s summed over its TX threads; valid in every thread of
//                        the row (l2norm.wgsl: rows)
// src/nn/elementwise.ts (workgroupSum) prepends the section of the adapter's variant
// ("// @variant NAME" up to the next one):
//   tree    GPUs: workgroup memory, a barrier, TY (TX) serial adds per lane (row), and a barrier
//           so that the next call may reuse the memory (a GPU hardly notices TY ≤ 64 adds; CPU
//           emulators pay per barrier).
//   direct  CPU emulators, TY = 1 (wg_sum) or TX = 1 (row_sum): the thread's own value; the module
//           then holds no barrier and no workgroup memory, which SwiftShader would compile as a
//           coroutine (0.3–0.9 s a pipeline), and lavapipe runs a row of 64 vec4 alone faster than
//           64 threads that each re-read the 64 partials.

// @variant tree
var<workgroup> red: array<V, 256>;

fn wg_sum(s: V, li: u32, lx: u32) -> V {
  red[li] = s;
  workgroupBarrier();
  var t = V(0.0);
  for (var k = 0u; k < TY; k++) { t += red[k * TX + lx]; }
  workgroupBarrier();  // every read done before a next call overwrites red
  return t;
}

var<workgroup> red_row: array<f32, 256>;

fn row_sum(s: f32, li: u32, ty: u32) -> f32 {
  red_row[li] = s;
  workgroupBarrier();
  var t = 0.0;
  for (var k = 0u; k < TX; k++) { t += red_row[ty * TX + k]; }
  workgroupBarrier();  // every read done before a next call overwrites red_row
  return t;
}

// @variant direct
fn wg_sum(s: V, li: u32, lx: u32) -> V {
  return s;
}

fn row_sum(s: f32, li: u32, ty: u32) -> f32 {
  return s;
}
