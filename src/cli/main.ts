// Entry point of the selfguided command line: one thin command per pipeline stage.
import { helpText, parseArgs, UsageError, type CommandSpec, type ParsedArgs } from './args.js';

interface Command {
  spec: CommandSpec;
  run: (a: ParsedArgs, argv: string[]) => Promise<number>;
}

async function commands(): Promise<Record<string, Command>> {
  const [
    { trainSpec, runTrain },
    { sampleSpec, runSample },
    { demoSpec, runDemo },
    { encoderSpec, runEncoder },
    { featuresSpec, runFeatures },
    { clusterSpec, runCluster },
    { evalnetSpec, runEvalnet },
    { evalSpec, runEval },
    { experimentSpec, runExperiment },
    { dataSpec, runData },
    { boxesSpec, runBoxes },
    { masksSpec, runMasks },
    { stegoSpec, runStego },
    { serveSpec, runServe },
    { inspectSpec, runInspect },
  ] = await Promise.all([
    import('./train.js'),
    import('./sample.js'),
    import('./demo.js'),
    import('./encoder.js'),
    import('./features.js'),
    import('./cluster.js'),
    import('./evalnet.js'),
    import('./eval.js'),
    import('./experiment.js'),
    import('./data.js'),
    import('./boxes.js'),
    import('./masks.js'),
    import('./stego.js'),
    import('./serve.js'),
    import('./inspect.js'),
  ]);
  return {
    encoder: { spec: encoderSpec, run: runEncoder },
    features: { spec: featuresSpec, run: runFeatures },
    cluster: { spec: clusterSpec, run: runCluster },
    boxes: { spec: boxesSpec, run: runBoxes },
    masks: { spec: masksSpec, run: runMasks },
    stego: { spec: stegoSpec, run: runStego },
    inspect: { spec: inspectSpec, run: runInspect },
    train: { spec: trainSpec, run: runTrain },
    sample: { spec: sampleSpec, run: runSample },
    demo: { spec: demoSpec, run: runDemo },
    evalnet: { spec: evalnetSpec, run: runEvalnet },
    eval: { spec: evalSpec, run: runEval },
    experiment: { spec: experimentSpec, run: runExperiment },
    data: { spec: dataSpec, run: runData },
    serve: { spec: serveSpec, run: runServe },
  };
}

function overview(cmds: Record<string, Command>): string {
  const w = Math.max(...Object.keys(cmds).map((k) => k.length)) + 2;
  return [
    'selfguided: self-guided diffusion models (train and sample image diffusion models guided without labels)',
    '',
    'usage: selfguided <command> [options]     selfguided <command> --help',
    '',
    'commands:',
    ...Object.entries(cmds).map(([k, c]) => `  ${k.padEnd(w)}${c.spec.summary}`),
  ].join('\n');
}

/** Commands with a required subcommand (or experiment name); the chosen one reaches the command as args.$sub. */
const SUBCOMMANDS: Record<string, string[]> = {
  encoder: ['train'],
  evalnet: ['train'],
  experiment: ['fashion-mnist', 'fashion-scenes'],
  data: ['scenes', 'emoji'],
  stego: ['train'],
};

export async function main(argv: string[]): Promise<number> {
  const cmds = await commands();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${overview(cmds)}\n`);
    return name === undefined ? 2 : 0;
  }
  const cmd = cmds[name];
  // Commands with a required subcommand (or experiment name).
  const subs = SUBCOMMANDS[name];
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
    process.stderr.write(`selfguided: unknown command '${name}' (commands: ${Object.keys(cmds).join(', ')})\n`);
    return 2;
  }
  try {
    const { applyThreads, noteIfBusy, threadsOption } = await import('./threads.js');
    const spec = { ...cmd.spec, options: { ...cmd.spec.options, threads: threadsOption } };
    const args = parseArgs(spec, rest);
    if (args === 'help') {
      process.stdout.write(`${helpText(spec)}\n`);
      return 0;
    }
    if (chosen) args.$sub = chosen;
    applyThreads(name, args);
    if (name !== 'serve') noteIfBusy(args);
    return await cmd.run(args, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`selfguided ${e.command}: ${e.message} (see selfguided ${e.command} --help)\n`);
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`selfguided ${name}: ${err.name === 'NonFiniteLossError' ? '' : 'error: '}${err.message}\n`);
    if (process.env.SELFGUIDED_DEBUG) process.stderr.write(`${err.stack}\n`);
    return err.name === 'NonFiniteLossError' ? 3 : 1;
  }
}
