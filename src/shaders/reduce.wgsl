// Column sums of an R×C row-major matrix: out[c] (=|+=) Σ_r x[r][c], e.g. a Linear layer's
// bias gradient (Σ over the batch of dy). The host prepends `alias V = vec4<f32>;` (C % 4 == 0)
// or `alias V = f32;`; CL = C / lane width.
//
// One entry point, two passes when R is long (never a serial loop over R in one thread):
//   pass 1  FINAL = false  grid (⌈CL/TX⌉, NB): block b sums rows [b·RPB, (b+1)·RPB) into
//                          part[b][c] (each thread strides by TY; thread (x, 0) sums the TY
//                          partials of its lane: wg_sum, workgroup_sum.wgsl);
//   pass 2  FINAL = true   the same kernel over the NB×CL partials with R = NB, one block,
//                          writing out[c] (ACCUM: += else =).
// When R ≤ RPB the single FINAL pass reads x directly. Fixed order: deterministic.
// Bindings: x, out (read_write: see elementwise.wgsl).

override R: u32;
override CL: u32;
override TX: u32 = 16u;
override TY: u32 = 16u;   // TX·TY = 256
override RPB: u32 = 256u;
override FINAL: bool = true;
override ACCUM: bool = false;

@group(0) @binding(0) var<storage, read_write> cs_x: array<V>;
@group(0) @binding(1) var<storage, read_write> cs_out: array<V>;

@compute @workgroup_size(TX, TY)
fn colsum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let c = wg.x * TX + lid.x;
  let r0 = wg.y * RPB;
  let r1 = min(R, r0 + RPB);
  var s = V(0.0);
  if (c < CL) {
    for (var r = r0 + lid.y; r < r1; r += TY) { s += cs_x[r * CL + c]; }
  }
  let t = wg_sum(s, li, lid.x);
  if (lid.y == 0u && c < CL) {
    let o = select(wg.y * CL + c, c, FINAL);
    if (FINAL && ACCUM) { cs_out[o] = cs_out[o] + t; } else { cs_out[o] = t; }
  }
}
