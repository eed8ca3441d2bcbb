// selfguided serve: the local web app over a runs folder (runs, live loss curves, previews).
import { existsSync } from 'node:fs';
import { startServer } from '../serve/server.js';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'a local web app: every run under a folder, its live loss curve, previews and config',
  usage: 'selfguided serve [--runs DIR] [--port N] [--host ADDR]',
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
  },
  epilog: 'Ctrl-C stops the server. Runs started while it runs appear on the next page load.',
};

export async function runServe(a: ParsedArgs): Promise<number> {
  const root = a.runs as string;
  if (!existsSync(root))
    throw new UsageError('serve', `runs folder not found: ${root} (train something first, or give --runs DIR)`);
  const port = a.port as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('serve', `--port must be 0-65535, got ${port}`);
  const s = await startServer({ root, host: a.host as string, port, log: (m) => process.stderr.write(`${m}\n`) });
  if (s.token) {
    process.stderr.write(
      `serve: WARNING: listening on ${a.host as string}, beyond this machine. Anyone who can reach it and has the token can read ${root}.\n`,
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
}
