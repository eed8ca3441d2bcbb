// An encoder run trained straight, and the same run interrupted at `until` and resumed: the resume tests
// compare the two.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncoderTrainer, type EncoderConfigInput } from '../../src/features/ssl/encoder-trainer.js';

export async function straightAndResumed(
  config: EncoderConfigInput,
  until: number,
): Promise<{ straight: EncoderTrainer; resumed: EncoderTrainer; straightDir: string; resumedDir: string }> {
  const quiet = () => {};
  const root = mkdtempSync(join(tmpdir(), 'sg-encoder-resume-'));
  const straightDir = join(root, 'straight'),
    resumedDir = join(root, 'resumed');
  const straight = await EncoderTrainer.open(straightDir, { config, log: quiet });
  await straight.train({ progress: false });
  const first = await EncoderTrainer.open(resumedDir, { config, log: quiet });
  await first.train({ untilStep: until, progress: false });
  first.dispose();
  const resumed = await EncoderTrainer.open(resumedDir, { resume: true, log: quiet });
  await resumed.train({ progress: false });
  return { straight, resumed, straightDir, resumedDir };
}
