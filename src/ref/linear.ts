// Float64 reference of the fully connected layer, with or without bias.
//
// Layout: x is batch×in (row-major); the weight is stored [in][out], i.e. y = x·W + b with W
// in×out — the TRANSPOSE of PyTorch's nn.Linear.weight ([out][in]); export transposes it.
//
// Backward convention (llm.c style): the backward returns freshly allocated gradients — dx is
// *assigned*; dWeight and dBias are this call's contribution, which the GPU kernels
// *accumulate* (+=) into the parameter gradients.

export interface LinearShape {
  batch: number;
  inFeatures: number;
  outFeatures: number;
}

function check(what: string, arrays: [string, Float64Array | null, number][]): void {
  for (const [name, a, n] of arrays) {
    if (a && a.length !== n) throw new Error(`${what}: ${name} has ${a.length} elements, expected ${n}`);
  }
}

/** y = x·W (+ b), batch×out. Pass `bias = null` for a layer without bias. */
export function linearForward(x: Float64Array, weight: Float64Array, bias: Float64Array | null, s: LinearShape): Float64Array {
  const { batch: B, inFeatures: I, outFeatures: O } = s;
  check('linearForward', [['x', x, B * I], ['weight', weight, I * O], ['bias', bias, O]]);
  const y = new Float64Array(B * O);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < O; o++) y[b * O + o] = bias ? bias[o]! : 0;
    for (let i = 0; i < I; i++) {
      const xv = x[b * I + i]!;
      for (let o = 0; o < O; o++) y[b * O + o]! += xv * weight[i * O + o]!;
    }
  }
  return y;
}

/**
 * dx = dy·Wᵀ (batch×in), dWeight = xᵀ·dy (in×out), dBias = Σ_batch dy (null without bias).
 */
export function linearBackward(
  dy: Float64Array,
  x: Float64Array,
  weight: Float64Array,
  s: LinearShape,
  hasBias: boolean,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array | null } {
  const { batch: B, inFeatures: I, outFeatures: O } = s;
  check('linearBackward', [['dy', dy, B * O], ['x', x, B * I], ['weight', weight, I * O]]);
  const dx = new Float64Array(B * I);
  const dWeight = new Float64Array(I * O);
  const dBias = hasBias ? new Float64Array(O) : null;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < I; i++) {
      const xv = x[b * I + i]!;
      let sum = 0;
      for (let o = 0; o < O; o++) {
        sum += dy[b * O + o]! * weight[i * O + o]!;
        dWeight[i * O + o]! += xv * dy[b * O + o]!;
      }
      dx[b * I + i] = sum;
    }
    if (dBias) for (let o = 0; o < O; o++) dBias[o]! += dy[b * O + o]!;
  }
  return { dx, dWeight, dBias };
}
