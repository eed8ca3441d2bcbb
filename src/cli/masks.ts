// selfguided masks: flags for selfMasksFile (src/experiment/self-masks-file.ts): self-masks by patch
// k-means from a features file with patches, as a condition file for selfguided train.
import { selfMasksFile } from '../experiment/self-masks-file.js';
import { required, UsageError, type CommandSpec, type ParsedArgs } from './args.js';

export const masksSpec: CommandSpec = {
  name: 'masks',
  summary: 'self-masks: patch k-means segments from patch features (K one-hot channels + n-hot presence)',
  options: {
    features: { type: 'string', metavar: 'FILE', help: 'features file with patches (selfguided features --patches)' },
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
    restarts: { type: 'int', min: 1, default: 3, help: 'k-means restarts' },
    seed: { type: 'int', default: 0, help: 'random seed' },
    out: { type: 'string', metavar: 'FILE', help: 'condition file (default: beside the features)' },
  },
  epilog: 'Prints mIoU and foreground IoU against the hidden masks when the dataset has them (fashion-scenes).',
};

export async function runMasks(a: ParsedArgs): Promise<number> {
  const path = required<string>(a, 'masks', 'features');
  const K = a.K as number;
  if (K < 2 || K > 255) throw new UsageError('masks', `--K must be in [2, 255], got ${K}`);
  const r = await selfMasksFile(path, {
    K,
    fitPatches: a['fit-patches'] as number,
    upsample: a.upsample as 'bilinear' | 'nearest',
    restarts: a.restarts as number,
    stego: a.stego as string | undefined,
    seed: a.seed as number,
    out: a.out as string | undefined,
  });
  process.stdout.write(`${r.lines.join('\n')}\n`);
  return 0;
}
