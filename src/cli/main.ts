// Entry point of the selfguided command line: one thin command per pipeline stage.
import { helpText, parseArgs, UsageError, type Command } from './args.js';
import { NonFiniteLossError } from '../train/loop.js';

/** Every command, in the order the overview lists them; each module declares its own (defineCommand). */
async function commands(): Promise<Command[]> {
  const modules = await Promise.all([
    import('./encoder.js'),
    import('./features.js'),
    import('./attention.js'),
    import('./cluster.js'),
    import('./boxes.js'),
    import('./masks.js'),
    import('./stego.js'),
    import('./baselines.js'),
    import('./inspect.js'),
    import('./train.js'),
    import('./sample.js'),
    import('./demo.js'),
    import('./evalnet.js'),
    import('./eval.js'),
    import('./experiment.js'),
    import('./data.js'),
    import('./serve.js'),
    import('./export.js'),
  ]);
  return modules.map((m): Command => m.command);
}

function overview(cmds: Command[]): string {
  const w = Math.max(...cmds.map((c) => c.name.length)) + 2;
  return [
    'selfguided: self-guided diffusion models (train and sample image diffusion models guided without labels)',
    '',
    'usage: selfguided <command> [options]     selfguided <command> --help',
    '',
    'commands:',
    ...cmds.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const cmds = await commands();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${overview(cmds)}\n`);
    return name === undefined ? 2 : 0;
  }
  const cmd = cmds.find((c) => c.name === name);
  // Commands with a required subcommand (or experiment name).
  const subs = cmd?.subcommands;
  let chosen: string | undefined;
  if (subs && (rest[0] === '--help' || rest[0] === '-h')) {
    // help below
  } else if (subs && subs.includes(rest[0]!)) chosen = rest.shift();
  else if (subs) {
    process.stderr.write(
      `selfguided ${name}: expected ${subs.map((x) => `'selfguided ${name} ${x} [options]'`).join(' or ')}${rest[0] && !rest[0].startsWith('-') ? `, got '${rest[0]}'` : ''} (see selfguided ${name} --help)\n`,
    );
    return 2;
  }
  if (!cmd) {
    process.stderr.write(`selfguided: unknown command '${name}' (commands: ${cmds.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  try {
    const { applyThreads, noteIfBusy, threadsOption } = await import('./threads.js');
    const spec = { ...cmd, options: { ...cmd.options, threads: threadsOption } };
    const args = parseArgs(spec, rest);
    if (args === 'help') {
      process.stdout.write(`${helpText(spec)}\n`);
      return 0;
    }
    const { threads, ...options } = args;
    applyThreads(name, threads);
    if (name !== 'serve') noteIfBusy(threads, 'nproc-per-node' in options && options['nproc-per-node'] !== undefined);
    return await cmd.run(options, { sub: chosen, argv: rest });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`selfguided ${e.command}: ${e.message} (see selfguided ${e.command} --help)\n`);
      return 2;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const nonFinite = err instanceof NonFiniteLossError;
    process.stderr.write(`selfguided ${name}: ${nonFinite ? '' : 'error: '}${err.message}\n`);
    if (process.env.SELFGUIDED_DEBUG) process.stderr.write(`${err.stack}\n`);
    return nonFinite ? 3 : 1;
  }
}
