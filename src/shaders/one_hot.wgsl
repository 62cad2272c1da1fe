// One-hot targets from integer class labels, for the linear probe's cross-entropy
// (src/mira/linear-probe.ts): out[i][c] = 1 if labels[i] == c else 0, B×C row-major.
// One thread per element, 256 per workgroup. A label ≥ C gives an all-zero row (no target).
override B: u32;
override C: u32;

@group(0) @binding(0) var<storage, read> labels: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn one_hot(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= B * C) { return; }
  let row = i / C;
  let col = i % C;
  out[i] = select(0.0, 1.0, labels[row] == col);
}
