// uint8 image batches (N×H×W×C, as `.npy` files hold them for `embed` and `step`) checked
// against a model configuration and normalised to float32 NHWC: x = (pixel/255 − mean_c)/std_c.
import { DatasetError } from './dataset.ts';

export interface ImageBatchSpec {
  imageSize: number;
  inChannels: number;
  mean: number[];
  std: number[];
}

/** Shape [N, H, W, C] of a uint8 array, or a DatasetError saying what is wrong and what is needed. */
export function checkImageBatch(shape: readonly number[], dtype: string, spec: ImageBatchSpec, file: string): [number, number, number, number] {
  const need = `uint8 N×${spec.imageSize}×${spec.imageSize}×${spec.inChannels}`;
  if (dtype !== 'uint8') throw new DatasetError(file, `images must be ${need}; got dtype ${dtype}`);
  if (shape.length !== 4) throw new DatasetError(file, `images must be ${need} (4 dimensions); got shape [${shape.join(', ')}]`);
  const [n, h, w, c] = shape as [number, number, number, number];
  if (n < 1) throw new DatasetError(file, 'holds no images');
  if (h !== w || h % 8 !== 0) throw new DatasetError(file, `images are ${h}×${w}; the network needs square images with a side divisible by 8 (three stride-2 stages)`);
  if (h !== spec.imageSize) throw new DatasetError(file, `images are ${h}×${w} but the checkpoint was trained on ${spec.imageSize}×${spec.imageSize}`);
  if (c !== spec.inChannels) throw new DatasetError(file, `images have ${c} channel(s) but the checkpoint takes ${spec.inChannels}`);
  return [n, h, w, c];
}

export function normalizeImages(pixels: Uint8Array, channels: number, mean: number[], std: number[]): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const c = i % channels;
    out[i] = (pixels[i]! / 255 - mean[c]!) / std[c]!;
  }
  return out;
}
