// The flags `boxes` and `masks` share (a features file with patches in, a condition file out, k-means
// restarts and the seed), and how they and `cluster` print what annotateFile did.
import type { AnnotateFileResult } from '../pipelines/annotate-file.js';
import { defineOptions } from './args.js';

export const patchFeaturesOption = defineOptions({
  features: {
    required: true,
    type: 'string',
    metavar: 'FILE',
    help: 'features file with patches (selfguided features --patches)',
  },
});

export const annotationOutOptions = defineOptions({
  restarts: { type: 'int', min: 1, default: 3, help: 'k-means restarts' },
  seed: { type: 'int', default: 0, help: 'random seed' },
  out: { type: 'string', metavar: 'FILE', help: 'condition file (default: beside the features)' },
});

/** Prints an annotation stage's lines (the file written, its quality, its picture) on stdout. */
export async function printAnnotation(result: Promise<AnnotateFileResult>): Promise<number> {
  process.stdout.write(`${(await result).lines.join('\n')}\n`);
  return 0;
}
