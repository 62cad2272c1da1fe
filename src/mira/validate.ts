// Checks on assignment inputs, run on the host before anything is recorded or dispatched:
// shapes (B ≥ 1, K ≥ 2), finite logits (naming the first bad row and column), and the scalar
// parameters (β ∈ (0, 1), τ > 0, ε > 0, λ > 0, iterations).
import type { GpuContext } from '../gpu/context.ts';
import { ShapeError } from '../gpu/errors.ts';

/** A parameter outside its range (β, τ, ε, λ, iterations). */
export class ParamError extends RangeError {
  override name = 'ParamError';
}

/** B ≥ 1 rows, K ≥ 2 columns, integers. `what` names the caller in the message. */
export function checkAssignShape(B: number, K: number, what: string): void {
  if (!Number.isInteger(B) || B < 1) throw new ShapeError(`${what}: the batch B must be an integer ≥ 1, got ${B}`);
  if (!Number.isInteger(K) || K < 2) throw new ShapeError(`${what}: the number of clusters K must be an integer ≥ 2, got ${K}`);
}

/** The number of row blocks (workgroups along x) for B rows, refused past the adapter's limit. */
export function checkRowBlocks(ctx: GpuContext, B: number, rowsPerBlock: number, what: string): number {
  const nb = Math.ceil(B / rowsPerBlock);
  if (nb > ctx.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`${what}: B = ${B} needs ${nb} row blocks, over the adapter's limit`);
  return nb;
}

/** A host matrix's shape: exactly two dimensions, B ≥ 1, K ≥ 2, and data of B·K values. */
export function checkMatrixShape(shape: readonly number[], length: number, what: string): [number, number] {
  if (shape.length !== 2) throw new ShapeError(`${what}: expected a 2-D B×K matrix, got shape [${shape.join(', ')}] (${shape.length}-D)`);
  const [B, K] = shape as [number, number];
  checkAssignShape(B, K, what);
  if (length !== B * K) throw new ShapeError(`${what}: shape ${B}×${K} needs ${B * K} values, got ${length}`);
  return [B, K];
}

/** Throws naming the first NaN or ±Inf (row, column, value). */
export function checkFinite(data: ArrayLike<number>, B: number, K: number, what: string): void {
  for (let i = 0; i < B * K; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x)) {
      throw new ParamError(`${what}: value at row ${Math.floor(i / K)}, column ${i % K} is ${x}; logits must be finite`);
    }
  }
}

export function checkBeta(beta: number, what: string): void {
  if (!(typeof beta === 'number' && beta > 0 && beta < 1)) throw new ParamError(`${what}: β must lie strictly between 0 and 1, got ${beta}`);
}

export function checkPositive(x: number, name: string, what: string): void {
  if (!(typeof x === 'number' && Number.isFinite(x) && x > 0)) throw new ParamError(`${what}: ${name} must be a finite number > 0, got ${x}`);
}

export function checkIters(iters: number, what: string, min = 0): void {
  if (!Number.isInteger(iters) || iters < min) throw new ParamError(`${what}: iterations must be an integer ≥ ${min}, got ${iters}`);
}
