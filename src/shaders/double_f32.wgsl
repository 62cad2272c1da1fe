// Double-f32 ("float-float") helpers: a value carried as the unevaluated sum hi + lo of two f32s
// (about 48 significant bits), for the log-domain scaling kernels (mira.wgsl, which the host
// compiles with this file prepended), where f32 alone cannot hold s·(ℓ − max ℓ) and the scalings
// to better than 2.4e-4 once they reach ±4000 (docs/ARCHITECTURE.md, Precision).
//
// Error-free transforms, each exact in round-to-nearest f32 whatever the device does with fma:
//   df_two_sum(a, b)     Knuth's TwoSum: hi = fl(a + b), lo = (a + b) − hi exactly (no |a| ≥ |b| branch).
//   df_split(a)          a = hi + lo with hi rounded to 12 significant bits and |lo| ≤ half an ulp of
//                        hi (so lo fits in 12 bits too), like Veltkamp's split but on the bit
//                        pattern: adding 0x800 and masking the low 12 mantissa bits rounds the
//                        magnitude (a carry moves into the exponent, as it should); a − hi is exact
//                        (Sterbenz). No multiply by 4097 that a compiler could contract into an fma.
//   df_two_prod(a, b, bs) Dekker's TwoProduct with bs = df_split(b) (hoisted when b is uniform):
//                        hi = fl(a·b), lo = a·b − hi exactly. Every partial product of 12-bit
//                        halves is exact in f32, so contracting any of them into an fma changes
//                        nothing.
//   df_scaled_diff(x, y, s, ss)  s·(x − y) for f32 x, y and a double-f32 scale s = (s_hi, s_lo)
//                        with ss = df_split(s_hi): (x − y) by TwoSum, its hi by TwoProduct, the
//                        small cross terms rounded (≈ 2⁻⁴⁸ relative). The lo is not renormalised.
//   df_scaled_diff_sub(x, y, s, ss, ch, cl)  s·(x − y) − (ch + cl), the exponent of every scaling
//                        pass: its hi is exact by TwoSum, the low parts added (≈ 2⁻⁴⁸ relative).
// test/double-f32.test.ts checks on the adapter that these are exact in isolation (a compiler that
// re-associates (a + b) − a into b would make them lose the low part); test/mira-sinkhorn.test.ts
// checks them inside the kernels, against float64 at 1e-6.

// 0u, but not a constant: every entry point that uses these helpers sets it from its uniform
// first. XOR-ing a float's bits with it (df_hide) hides (a + b) − a from the compiler's float
// algebra: on lavapipe the plain TwoSum came back with every low part 0 (test/double-f32.test.ts);
// multiplying by an opaque 1.0 instead passed that probe but not the scaling kernels' float64 test
// (the float algebra can factor a·1 − b·1 into (a − b)·1); an integer XOR it cannot see through.
var<private> df_zero: u32 = 0u;

fn df_hide(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) ^ df_zero);
}

fn df_two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = df_hide(a + b);
  let bb = df_hide(s - a);
  return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

fn df_split(a: f32) -> vec2<f32> {
  let hi = bitcast<f32>((bitcast<u32>(a) + 0x800u) & 0xfffff000u);
  return vec2<f32>(hi, a - hi);
}

fn df_two_prod(a: f32, b: f32, bs: vec2<f32>) -> vec2<f32> {
  let p = a * b;
  let sa = df_split(a);
  return vec2<f32>(p, ((sa.x * bs.x - p) + sa.x * bs.y + sa.y * bs.x) + sa.y * bs.y);
}

fn df_scaled_diff(x: f32, y: f32, s: vec2<f32>, ss: vec2<f32>) -> vec2<f32> {
  let d = df_two_sum(x, -y);
  let p = df_two_prod(d.x, s.x, ss);
  return vec2<f32>(p.x, p.y + (d.x * s.y + d.y * s.x));
}

fn df_scaled_diff_sub(x: f32, y: f32, s: vec2<f32>, ss: vec2<f32>, ch: f32, cl: f32) -> vec2<f32> {
  let p = df_scaled_diff(x, y, s, ss);
  let t = df_two_sum(p.x, -ch);
  return vec2<f32>(t.x, t.y + (p.y - cl));
}
