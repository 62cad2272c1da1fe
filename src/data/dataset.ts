// The in-memory dataset: uint8 images in NHWC order with uint8 labels, a train and a test split.
// Readers build everything into local arrays and return only when every file checked out, so
// a failed load leaves no partial dataset behind. Errors are DatasetErrors naming the file.

export interface Dataset {
  /** e.g. "cifar10/train", "fashion-mnist/test". */
  name: string;
  /** N×H×W×C, row-major, one byte per value. */
  images: Uint8Array;
  /** N labels, each < classes.length. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: string[];
  /** Per-channel mean and standard deviation of pixel/255, for normalisation. */
  mean: number[];
  std: number[];
}

export interface DatasetSplits {
  /** "cifar10", "fashion-mnist", "fashion-mnist-sample", "mnist", or the directory's name. */
  name: string;
  train: Dataset;
  test: Dataset;
  /** Where it came from (a path or URL), for logs and checkpoint metadata. */
  source: string;
}

/** A dataset file is missing, truncated or malformed. The message starts with the file's name. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** The statistics used by the official MIRA CIFAR-10 loader. */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD = [0.247, 0.243, 0.261];
/** Fashion-MNIST training-set statistics (pixel/255, 28×28, unpadded). */
export const FASHION_MNIST_MEAN = [0.286];
export const FASHION_MNIST_STD = [0.353];

/** Per-channel mean and std of pixel/255 over all images (float64 accumulation). */
export function channelStats(images: Uint8Array, channels: number): { mean: number[]; std: number[] } {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (let i = 0; i < images.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = images[i + c]!;
      sum[c]! += v;
      sq[c]! += v * v;
    }
  }
  const n = images.length / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    const m = sum[c]! / n;
    mean.push(m / 255);
    std.push(Math.sqrt(Math.max(0, sq[c]! / n - m * m)) / 255);
  }
  return { mean, std };
}

/** Checks a Dataset's invariants; throws a DatasetError naming `file` on the first violation. */
export function checkDataset(ds: Dataset, file = ds.name): void {
  const { count, height, width, channels } = ds;
  for (const [k, v] of Object.entries({ count, height, width, channels })) {
    if (!Number.isInteger(v) || v <= 0) throw new DatasetError(file, `${k} must be a positive integer, got ${v}`);
  }
  if (ds.images.length !== count * height * width * channels) {
    throw new DatasetError(file, `${ds.images.length} image bytes, expected ${count}×${height}×${width}×${channels} = ${count * height * width * channels}`);
  }
  if (ds.labels.length !== count) throw new DatasetError(file, `${ds.labels.length} labels for ${count} images`);
  if (ds.mean.length !== channels || ds.std.length !== channels) {
    throw new DatasetError(file, `mean/std have ${ds.mean.length}/${ds.std.length} entries for ${channels} channels`);
  }
  const k = ds.classes.length;
  for (let i = 0; i < count; i++) {
    if (ds.labels[i]! >= k) throw new DatasetError(file, `label ${ds.labels[i]} of image ${i} is not below the ${k} classes`);
  }
}

/** A view of images [start, start+n) of a dataset (no copy). */
export function sliceDataset(ds: Dataset, start: number, n: number): Dataset {
  const end = Math.min(ds.count, start + n);
  const per = ds.height * ds.width * ds.channels;
  return {
    ...ds,
    images: ds.images.subarray(start * per, end * per),
    labels: ds.labels.subarray(start, end),
    count: end - start,
  };
}

/** How many images of each class (for checks and the UI). */
export function classCounts(ds: Dataset): number[] {
  const counts = new Array<number>(ds.classes.length).fill(0);
  for (let i = 0; i < ds.count; i++) counts[ds.labels[i]!]!++;
  return counts;
}
