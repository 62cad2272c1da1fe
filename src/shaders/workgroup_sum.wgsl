// wg_sum(s, li, lx): the sum of lane lx's values s over the workgroup's TY row threads (TX lanes ×
// TY rows, li = local_invocation_index), in a fixed order, valid in the threads of row 0. Called by
// every thread (uniform control flow). src/nn/elementwise.ts (workgroupSum) prepends the section of
// the adapter's variant ("// @variant NAME" up to the next one) to pool.wgsl and reduce.wgsl:
//   tree    GPUs: workgroup memory, one barrier, TY serial adds per lane (a GPU hardly notices
//           TY ≤ 64 adds; CPU emulators pay per barrier).
//   direct  CPU emulators, TY = 1: the thread's own value; the module then holds no barrier and no
//           workgroup memory, which SwiftShader would compile as a coroutine (0.3–0.9 s a pipeline).

// @variant tree
var<workgroup> red: array<V, 256>;

fn wg_sum(s: V, li: u32, lx: u32) -> V {
  red[li] = s;
  workgroupBarrier();
  var t = V(0.0);
  for (var k = 0u; k < TY; k++) { t += red[k * TX + lx]; }
  return t;
}

// @variant direct
fn wg_sum(s: V, li: u32, lx: u32) -> V {
  return s;
}
