// selfguided masks: flags for selfMasksFile (src/pipelines/self-masks-file.ts): self-masks by patch
// k-means from a features file with patches, as a condition file for selfguided train.
import { selfMasksFile } from '../pipelines/self-masks-file.js';
import { defineCommand, UsageError } from './args.js';
import { annotationOutOptions, patchFeaturesOption, printAnnotation } from './annotation-args.js';

export const command = defineCommand({
  name: 'masks',
  summary: 'self-masks: patch k-means segments from patch features (K one-hot channels + n-hot presence)',
  options: {
    ...patchFeaturesOption,
    K: { type: 'int', min: 1, default: 11, help: 'number of segments' },
    'fit-patches': { type: 'int', min: 1, default: 100000, help: 'fit k-means on at most this many patches' },
    upsample: {
      type: 'string',
      default: 'bilinear',
      choices: ['bilinear', 'nearest'],
      help: 'from patches to pixels: upsampled cosine scores, or each patch repeated',
    },
    stego: {
      type: 'string',
      metavar: 'RUN',
      help: 'segment with a trained STEGO head and probe (selfguided stego train) instead',
    },
    ...annotationOutOptions,
  },
  epilog: 'Prints mIoU and foreground IoU against the hidden masks when the dataset has them (fashion-scenes).',
  async run(a) {
    const path = a.features;
    const K = a.K;
    if (K < 2 || K > 255) throw new UsageError('masks', `--K must be in [2, 255], got ${K}`);
    return printAnnotation(
      selfMasksFile(path, {
        K,
        fitPatches: a['fit-patches'],
        upsample: a.upsample,
        restarts: a.restarts,
        stego: a.stego,
        seed: a.seed,
        out: a.out,
      }),
    );
  },
});
