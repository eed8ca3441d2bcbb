// What a training command does with --resume: the run's config.json decides everything but the step
// count and the device, and any other flag given is named as ignored rather than silently dropped. The
// options a run was started with that config.json does not hold (previews, device) are kept beside it,
// so that a resumed run goes on with them unless they are given again.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../util/json-file.js';

/** Options of the command line that a run keeps across --resume (config.json has the rest). */
const KEPT_OPTIONS = ['preview-every', 'device'] as const;
export const LAUNCH_FILE = 'launch-options.json';
const LaunchFile = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const LaunchStored = z.object({ 'preview-every': z.number().optional(), device: z.string().optional() });

const APPLY_ON_RESUME = new Set([
  'resume',
  'steps',
  'device',
  'run-dir',
  'preview-every',
  'threads',
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
export function resumeOptions(cmd: string, a: { steps: number }, argv: string[]): { resume: true; steps?: number } {
  const given = givenFlags(argv);
  const ignored = [...given].filter((f) => !APPLY_ON_RESUME.has(f));
  if (ignored.length) {
    process.stderr.write(
      `${cmd} --resume: ignoring ${ignored.map((f) => `--${f}`).join(', ')}: a resumed run keeps its config.json ` +
        '(only --steps, --device, --preview-every, --threads and the data-parallel flags apply); start a new --run-dir to change them\n',
    );
  }
  return { resume: true, steps: given.has('steps') ? a.steps : undefined };
}

/** The options a run keeps across --resume, as a command reads them. */
export interface LaunchOptions {
  'preview-every': number;
  device: string;
}

/**
 * On resume: each kept option not given on the command line takes the value the run was started with
 * (runs from before this file keep the defaults); says so on stderr when that is not the default.
 */
export function restoreLaunchOptions<A extends LaunchOptions>(cmd: string, runDir: string, a: A, argv: string[]): A {
  const path = join(runDir, LAUNCH_FILE);
  if (!existsSync(path)) return a;
  const stored = LaunchStored.parse(readJsonFile(path, LaunchFile));
  const given = givenFlags(argv);
  const restored: string[] = [];
  const out = { ...a };
  for (const flag of KEPT_OPTIONS) {
    const v = stored[flag];
    if (given.has(flag) || v === undefined) continue;
    if (v !== a[flag]) restored.push(`--${flag} ${v}`);
    Object.assign(out, { [flag]: v });
  }
  if (restored.length)
    process.stderr.write(
      `${cmd} --resume: ${restored.join(', ')}, as the run was started (give a flag again to change it)\n`,
    );
  return out;
}

/** Writes the kept options of a run that opened (by the process that writes the run's files). */
export function saveLaunchOptions(runDir: string, a: LaunchOptions): void {
  const kept: Record<string, string | number | boolean> = {};
  for (const flag of KEPT_OPTIONS) {
    const v = a[flag];
    if (v !== undefined) kept[flag] = v;
  }
  writeJsonFile(join(runDir, LAUNCH_FILE), kept);
}
