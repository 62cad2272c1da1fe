// SeLa's batch labels: out[i][h] = table[indices[i]][h] — the rows of the N×H label table
// (u32, one label per training image and head) for this step's B image indices, gathered on
// the GPU so the step needs no host round trip (src/methods/sela-objective.ts).
override B: u32 = 1u;
override H: u32 = 1u;

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= B * H) { return; }
  let i = t / H;
  let h = t % H;
  out[t] = table[indices[i] * H + h];
}
