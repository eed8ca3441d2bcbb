// selfguided serve: the local web app over a runs folder (runs, live loss curves, previews).
import { existsSync } from 'node:fs';
import { DEFAULT_JOB_LIMITS } from '../serve/jobs.js';
import { startServer } from '../serve/server.js';
import { defineCommand, UsageError } from './args.js';

export const command = defineCommand({
  name: 'serve',
  summary: 'a local web app: every run under a folder, its live loss curve, previews and config',
  usage: 'selfguided serve [--runs DIR] [--port N] [--host ADDR] [--jobs N] [--max-queue N] [--max-job-work N]',
  options: {
    runs: {
      type: 'string',
      default: 'runs',
      metavar: 'DIR',
      help: 'the folder whose runs to show (only files under it are served)',
    },
    port: { type: 'int', default: 8080, help: 'port (0: any free port)' },
    host: {
      type: 'string',
      default: '127.0.0.1',
      help: 'interface to listen on; anything but this machine prints a warning and requires the printed token',
    },
    jobs: { type: 'int', min: 1, default: DEFAULT_JOB_LIMITS.concurrent, help: 'sampling jobs that run at once' },
    'max-queue': {
      type: 'int',
      min: 1,
      default: DEFAULT_JOB_LIMITS.maxQueued,
      help: 'sampling jobs that may wait; past it a request is answered 429',
    },
    'max-job-work': {
      type: 'int',
      min: 1,
      default: DEFAULT_JOB_LIMITS.maxWork,
      help: 'the most images x network evaluations one sampling request may ask for (413 past it)',
    },
  },
  epilog:
    'Ctrl-C stops the server. Runs started while it runs appear on the next page load. It answers only to ' +
    "this machine's names and the --host given, takes sampling requests only from its own pages, and serves " +
    "every page with a Content-Security-Policy; see the README's serve section.",
  async run(a) {
    const root = a.runs;
    if (!existsSync(root))
      throw new UsageError('serve', `runs folder not found: ${root} (train something first, or give --runs DIR)`);
    const port = a.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError('serve', `--port must be 0-65535, got ${port}`);
    const s = await startServer({
      root,
      host: a.host,
      port,
      log: (m) => process.stderr.write(`${m}\n`),
      jobs: {
        concurrent: a.jobs,
        maxQueued: a['max-queue'],
        maxWork: a['max-job-work'],
      },
    });
    if (s.token) {
      process.stderr.write(
        `serve: WARNING: listening on ${a.host}, beyond this machine. Anyone who can reach it and has the token can read ${root}.\n`,
      );
    }
    process.stdout.write(`selfguided serve: ${root} at ${s.url}\n`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void s.close().then(done);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  },
});
