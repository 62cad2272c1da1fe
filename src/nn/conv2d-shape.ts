// The shape of a 2-D convolution layer and its output size: one definition for the GPU layer
// (src/nn/conv2d.ts), the architecture table (src/nn/architecture.ts) and the float64 reference
// (src/ref/conv2d.ts). Square kernels, the same stride and zero padding on both axes (all that
// ResNet-18 uses); Ho = ⌊(H + 2·pad − k)/stride⌋ + 1.

export interface Conv2dShape {
  batch: number;
  /** Input height and width. */
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  /** Square kernel side (1 or 3 in ResNet-18). */
  kernel: number;
  stride: number;
  padding: number;
}

export function convOutSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

export function conv2dOutShape(s: Conv2dShape): { outHeight: number; outWidth: number } {
  return { outHeight: convOutSize(s.height, s.kernel, s.stride, s.padding), outWidth: convOutSize(s.width, s.kernel, s.stride, s.padding) };
}
