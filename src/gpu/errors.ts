// Typed errors of the GPU runtime. Every message says what was wrong and what to do, because
// these are what a student sees in the page or a researcher sees in the terminal.

/** There is no WebGPU API, or no adapter behind it. `hint` says what to do about it. */
export class WebGPUUnavailableError extends Error {
  override name = 'WebGPUUnavailableError';
  constructor(
    /** What was wrong, without the advice. */
    readonly reason: string,
    readonly hint: string,
  ) {
    super(`${reason} ${hint}`);
  }
}

/** A kernel failed to compile, validate, bind or dispatch. Always names the kernel's label. */
export class GpuKernelError extends Error {
  override name = 'GpuKernelError';
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`kernel "${kernel}": ${detail}`);
  }
}

/** Operands whose shapes do not fit together; thrown before anything is recorded or dispatched. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function assertShape(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new ShapeError(message());
}

export function isPositiveInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0;
}
