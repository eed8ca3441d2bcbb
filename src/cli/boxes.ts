// selfguided boxes: flags for selfBoxesFile (src/pipelines/self-boxes-file.ts): LOST self-boxes with
// box self-labels from a features file with patches, as a condition file for selfguided train.
import { selfBoxesFile } from '../pipelines/self-boxes-file.js';
import { defineCommand, UsageError } from './args.js';
import { annotationOutOptions, patchFeaturesOption, printAnnotation } from './annotation-args.js';

export const command = defineCommand({
  name: 'boxes',
  summary: 'self-boxes: LOST boxes from patch features, each with a k-means self-label (a condition file)',
  options: {
    ...patchFeaturesOption,
    k: { type: 'int', min: 1, default: 10, help: 'box self-label clusters' },
    objects: {
      type: 'string',
      default: 'main',
      choices: ['main', 'all'],
      help: "main: LOST's one box per image (the paper); all: every object found (union channel, n-hot labels)",
    },
    channel: {
      type: 'boolean',
      default: true,
      help: 'the box channel (--no-channel: image-level labels only; with --objects all the n-hot multi-object self-labels)',
    },
    'max-objects': { type: 'int', min: 1, default: 4, help: 'with --objects all: at most this many per image' },
    'lost-k': { type: 'int', min: 1, default: 100, help: "LOST's expansion set: the k lowest-degree patches" },
    normalize: {
      type: 'string',
      default: 'auto',
      choices: ['auto', 'center', 'layernorm', 'none'],
      help: "patch features before the dot products: auto centres a ViT's (keys or tokens) and layer-norms a ResNet's (each measured best for its g); none degenerates on ReLU maps",
    },
    metric: { type: 'string', default: 'cosine', choices: ['cosine', 'euclidean'], help: 'k-means distance' },
    ...annotationOutOptions,
  },
  epilog: 'Prints CorLoc against the hidden boxes when the dataset has them (fashion-scenes).',
  async run(a) {
    const path = a.features;
    if (a.k < 1) throw new UsageError('boxes', `--k must be >= 1, got ${a.k}`);
    return printAnnotation(
      selfBoxesFile(path, {
        k: a.k,
        objects: a.objects,
        channel: Boolean(a.channel),
        lost: {
          k: a['lost-k'],
          normalize: a.normalize === 'auto' ? undefined : a.normalize,
          maxObjects: a['max-objects'],
        },
        metric: a.metric,
        restarts: a.restarts,
        seed: a.seed,
        out: a.out,
      }),
    );
  },
});
