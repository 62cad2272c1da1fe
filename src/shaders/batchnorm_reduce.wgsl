// The two versions of batchnorm.wgsl's block_sums (see there); src/nn/batchnorm.ts prepends the
// section of its variant ("// @variant NAME" up to the next one).

// @variant tree
// One barrier, then TY serial adds from workgroup memory per lane: CPU emulators pay dearly per
// barrier, and TY ≤ 64 adds cost a GPU about what a log2(TY)-step tree does.
var<workgroup> ra: array<V, 256>;
var<workgroup> rb: array<V, 256>;

fn block_sums(s1: V, s2: V, li: u32, lx: u32) -> array<V, 2> {
  ra[li] = s1;
  rb[li] = s2;
  workgroupBarrier();
  var t1 = V(0.0);
  var t2 = V(0.0);
  for (var k = 0u; k < TY; k++) {
    t1 += ra[k * TX + lx];
    t2 += rb[k * TX + lx];
  }
  return array<V, 2>(t1, t2);
}

// @variant direct
// TY = 1: each thread already holds its lane's sums.
fn block_sums(s1: V, s2: V, li: u32, lx: u32) -> array<V, 2> {
  return array<V, 2>(s1, s2);
}
