// What a training command does with --resume: the run's config.json decides everything but the step
// count and the device, and any other flag given is named as ignored rather than silently dropped.
import type { ParsedArgs } from './args.js';

const APPLY_ON_RESUME = new Set([
  'resume',
  'steps',
  'device',
  'run-dir',
  'preview-every',
  // how many processes train, and where they meet: a resumed run may use any number
  'nproc-per-node',
  'nnodes',
  'node-rank',
  'master-addr',
  'master-port',
  'backend',
  'dist-timeout',
]);

/** Option names given on the command line (not defaults). */
export function givenFlags(argv: string[]): Set<string> {
  return new Set(argv.filter((x) => x.startsWith('--')).map((x) => x.slice(2).split('=')[0]!.replace(/^no-/, '')));
}

/** The open options of a resumed run; warns on stderr about flags that a resumed run ignores. */
export function resumeOptions(cmd: string, a: ParsedArgs, argv: string[]): { resume: true; steps?: number } {
  const given = givenFlags(argv);
  const ignored = [...given].filter((f) => !APPLY_ON_RESUME.has(f));
  if (ignored.length) {
    process.stderr.write(
      `${cmd} --resume: ignoring ${ignored.map((f) => `--${f}`).join(', ')}: a resumed run keeps its config.json ` +
        '(only --steps, --device, --preview-every and the data-parallel flags apply); start a new --run-dir to change them\n',
    );
  }
  return { resume: true, steps: given.has('steps') ? (a.steps as number) : undefined };
}
