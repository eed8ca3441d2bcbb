// `selfguided serve`: a local web app over a runs folder. Binds 127.0.0.1 unless told otherwise; on any
// other interface every request needs the printed token. Only files under the runs folder are served;
// who may ask for what is guard.ts's.
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { annotationPage, annotationsPage } from './annotation-pages.js';
import { isConditionFile, listConditionFiles, viewRel, ViewRenderer } from './annotations.js';
import { ensureBrowserExport, serveBrowserFile } from './browser-export.js';
import { authorized, checkStateChange, FILE_CSP, hostAllowed, LOCAL_HOSTS, PAGE_CSP, redactUrl } from './guard.js';
import { JobQueue, SampleRequest, type JobLimits } from './jobs.js';
import { DEFAULT_REPORTS, reportPage, reportsPage } from './reports.js';
import { playgroundPage, runPage, runsPage, escapeHtml, layout } from './pages.js';
import { InvalidFileError } from '../util/json-file.js';
import { isRunDir, listRuns, modelInfo, readMetrics, runKind, runProgress, summarizeRun } from './runs.js';
import { HttpError, resolveUnder } from './safe-path.js';

export interface ServeOptions {
  /** the runs folder */
  root: string;
  host?: string;
  /** 0 picks a free port */
  port?: number;
  /** the experiment reports' folder (default: this checkout's docs/results) */
  reports?: string;
  /** how often event streams look for new metrics and previews (ms) */
  pollMs?: number;
  log?: (msg: string) => void;
  /** the sampling queue's bounds (DEFAULT_JOB_LIMITS otherwise) */
  jobs?: Partial<JobLimits>;
}

export interface RunningServer {
  url: string;
  port: number;
  /** set when the server listens beyond this machine: requests must carry it */
  token: string | null;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.jsonl': 'application/x-ndjson',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Headers of every answer: no sniffing, no framing, no address (with its token) passed on as Referer. */
const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': type,
    'cache-control': 'no-store',
    'content-security-policy': type.startsWith('text/html') ? PAGE_CSP : FILE_CSP,
  });
  res.end(body);
}

/** The browser client (client/), served as files so that the pages' policy can forbid inline script and style. */
const CLIENT_FILES: Record<string, string> = {
  'run.js': 'text/javascript; charset=utf-8',
  'playground.js': 'text/javascript; charset=utf-8',
  'annotation-poll.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
const clientDir = new URL('./client/', import.meta.url);
const readClient = () =>
  new Map(Object.entries(CLIENT_FILES).map(([f, type]) => [f, { type, body: readFileSync(new URL(f, clientDir)) }]));

function sendJson(res: ServerResponse, value: unknown): void {
  send(res, 200, 'application/json', JSON.stringify(value));
}

/** The run directory rel names under root: 400 without one, 403 outside root, 404 if it is not a run. */
function runAt(root: string, rel: string | null): string {
  if (rel === null || rel === '')
    throw new HttpError(400, 'missing query parameter: path (a run, relative to the runs folder)');
  const dir = resolveUnder(root, rel);
  if (!isRunDir(dir)) throw new HttpError(404, `not a run: ${rel}`);
  return dir;
}

const runFromQuery = (root: string, url: URL) => runAt(root, url.searchParams.get('path'));

/** A run's condition file relative to root, when it is one under root (for a link to its view). */
function conditionOfRun(root: string, config: string): string | null {
  try {
    const c = JSON.parse(config) as { condition?: { kind?: string; path?: string } };
    if (c.condition?.kind !== 'file' || !c.condition.path) return null;
    const abs = resolve(c.condition.path);
    const rel = relative(root, abs);
    return !rel.startsWith('..') && !isAbsolute(rel) && isConditionFile(abs) ? rel.split(sep).join('/') : null;
  } catch {
    return null;
  }
}

/** The condition file a request names: 400 without one, 403 outside root, 404 if it is not one. */
function conditionFromQuery(root: string, url: URL): { abs: string; rel: string } {
  const rel = url.searchParams.get('path');
  if (rel === null || rel === '')
    throw new HttpError(400, 'missing query parameter: path (a condition file, relative to the runs folder)');
  const abs = resolveUnder(root, rel);
  if (!isConditionFile(abs)) throw new HttpError(404, `not a condition file: ${rel}`);
  return { abs, rel };
}

/** The percent-decoded rest of a URL path after its route prefix. */
function pathAfter(p: string, prefix: string): string {
  try {
    return decodeURIComponent(p.slice(prefix.length));
  } catch {
    throw new HttpError(400, 'bad percent-encoding in the path');
  }
}

function serveFile(root: string, rel: string, res: ServerResponse): void {
  const abs = resolveUnder(root, rel);
  const type = CONTENT_TYPES[extname(abs).toLowerCase()];
  if (!type || !statSync(abs).isFile()) throw new HttpError(403, `not a file this app serves: ${rel}`);
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'content-type': type,
    'cache-control': 'no-cache',
    'content-security-policy': FILE_CSP,
  });
  createReadStream(abs).pipe(res);
}

/** Server-sent events: the metrics so far, then new records and state changes as they appear. */
function streamRun(root: string, dir: string, req: IncomingMessage, res: ServerResponse, pollMs: number): void {
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  let byte = 0;
  let lastStep = 0;
  let lastState = '';
  const tick = () => {
    try {
      const { records, nextByte } = readMetrics(dir, byte);
      byte = nextByte;
      if (records.length) {
        lastStep = records[records.length - 1]!.step;
        res.write(`event: metrics\ndata: ${JSON.stringify(records)}\n\n`);
      }
      const s = runProgress(root, dir, lastStep);
      const state = JSON.stringify({ state: s.state, step: s.step, previews: s.previews });
      if (state !== lastState) res.write(`event: state\ndata: ${state}\n\n`);
      lastState = state;
    } catch (e) {
      res.write(`event: error\ndata: ${JSON.stringify((e as Error).message)}\n\n`);
    }
  };
  tick();
  const timer = setInterval(tick, pollMs);
  req.on('close', () => clearInterval(timer));
}

const MAX_BODY = 64 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((ok, bad) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit the rest is read and dropped, so the client still gets its 413.
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () =>
      size > MAX_BODY
        ? bad(new HttpError(413, `request body over ${MAX_BODY} bytes`))
        : ok(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', bad);
  });
}

/** A diffusion run named by the request, for sampling. */
function diffusionRun(root: string, rel: string | null): string {
  const dir = runAt(root, rel);
  if (runKind(dir) !== 'diffusion')
    throw new HttpError(400, `${rel} is not a diffusion model with a checkpoint; only those can sample`);
  return dir;
}

/** A request's body as JSON (400 when it is not). */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  try {
    return JSON.parse(await readBody(req));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, 'the body must be JSON');
  }
}

/** The run named by a JSON body { run }. */
async function runOfBody(req: IncomingMessage): Promise<string> {
  const run = ((await jsonBody(req)) as { run?: unknown } | null)?.run;
  if (typeof run !== 'string' || run === '') throw new HttpError(400, 'bad request: run: a run path is required');
  return run;
}

async function submitSample(root: string, jobs: JobQueue, req: IncomingMessage): Promise<unknown> {
  const body = await jsonBody(req);
  const parsed = SampleRequest.safeParse(body);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new HttpError(400, `bad request: ${i.path.join('.') || 'body'}: ${i.message}`);
  }
  return jobs.submit(diffusionRun(root, parsed.data.run), parsed.data);
}

function streamJob(jobs: JobQueue, id: string, req: IncomingMessage, res: ServerResponse): void {
  if (!jobs.get(id)) throw new HttpError(404, `no job ${id}`);
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  const stop = jobs.watch(id, (j) => {
    res.write(`event: job\ndata: ${JSON.stringify(j)}\n\n`);
    if (j.state !== 'queued' && j.state !== 'running') res.end();
  });
  req.on('close', stop);
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const root = resolve(o.root);
  statSync(root);
  const host = o.host ?? '127.0.0.1';
  const token = LOCAL_HOSTS.has(host) ? null : randomBytes(16).toString('hex');
  const pollMs = o.pollMs ?? 1000;
  const log = o.log ?? (() => {});
  const jobs = new JobQueue(root, log, o.jobs);
  const views = new ViewRenderer(root, log);
  const client = readClient();
  const reports = resolve(o.reports ?? DEFAULT_REPORTS);
  const server = createServer((req, res) => {
    void handle(req, res);
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, 'text/plain; charset=utf-8', 'bad request URL');
    }
    try {
      if (!hostAllowed(req.headers.host, host))
        throw new HttpError(
          403,
          `this server answers to ${[...LOCAL_HOSTS, host].filter((h, i, a) => a.indexOf(h) === i).join(', ')}, not to Host ${req.headers.host}`,
        );
      if (!authorized(req, url, token, res))
        throw new HttpError(401, 'this server needs the token it printed: add ?token=... to the address');
      const p = url.pathname;
      if (req.method === 'POST') {
        const cancel = /^\/api\/jobs\/([0-9a-f]+)\/cancel$/.exec(p);
        if (p !== '/api/sample' && p !== '/api/export' && !cancel)
          throw new HttpError(405, `POST is not allowed at ${p}`);
        checkStateChange(req);
        if (p === '/api/export') {
          const run = await runOfBody(req);
          await ensureBrowserExport(diffusionRun(root, run));
          const at = run === '.' ? '' : `${run.split('/').map(encodeURIComponent).join('/')}/`;
          return sendJson(res, { url: `/browser/${at}web/` });
        }
        if (cancel) {
          const j = jobs.cancel(cancel[1]!);
          if (!j) throw new HttpError(404, `no job ${cancel[1]}`);
          return sendJson(res, j);
        }
        return send(res, 202, 'application/json', JSON.stringify(await submitSample(root, jobs, req)));
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed here`);
      if (p === '/') return send(res, 200, 'text/html; charset=utf-8', runsPage(root, listRuns(root)));
      if (p.startsWith('/app/')) {
        const file = client.get(p.slice('/app/'.length));
        if (file === undefined) throw new HttpError(404, `no client file at ${p}`);
        return send(res, 200, file.type, file.body);
      }
      if (p === '/run') {
        const dir = runFromQuery(root, url);
        const config = readFileSync(join(dir, 'config.json'), 'utf8');
        return send(
          res,
          200,
          'text/html; charset=utf-8',
          runPage(summarizeRun(root, dir), config, conditionOfRun(root, config)),
        );
      }
      if (p === '/playground') {
        const dir = diffusionRun(root, url.searchParams.get('path'));
        return send(res, 200, 'text/html; charset=utf-8', playgroundPage(summarizeRun(root, dir), modelInfo(dir)));
      }
      const job = /^\/api\/jobs\/([0-9a-f]+)(\/stream)?$/.exec(p);
      if (job) {
        if (job[2]) return streamJob(jobs, job[1]!, req, res);
        const j = jobs.get(job[1]!);
        if (!j) throw new HttpError(404, `no job ${job[1]}`);
        return sendJson(res, j);
      }
      if (p === '/annotations')
        return send(res, 200, 'text/html; charset=utf-8', annotationsPage(root, listConditionFiles(root)));
      if (p === '/annotation' || p === '/api/annotation') {
        const { abs, rel } = conditionFromQuery(root, url);
        const state = views.state(abs, url.searchParams.get('retry') === '1');
        if (p === '/api/annotation') return sendJson(res, state);
        return send(res, 200, 'text/html; charset=utf-8', annotationPage(rel, viewRel(root, abs), state));
      }
      if (p === '/reports') return send(res, 200, 'text/html; charset=utf-8', reportsPage(reports));
      if (p.startsWith('/reports/')) {
        const rel = pathAfter(p, '/reports/');
        if (rel.endsWith('.md') && !rel.includes('/'))
          return send(res, 200, 'text/html; charset=utf-8', reportPage(reports, rel));
        return serveFile(reports, rel, res);
      }
      if (p === '/api/runs') return sendJson(res, listRuns(root));
      if (p === '/api/metrics') return sendJson(res, readMetrics(runFromQuery(root, url)).records);
      if (p === '/api/stream') return streamRun(root, runFromQuery(root, url), req, res, pollMs);
      if (p.startsWith('/files/')) return serveFile(root, pathAfter(p, '/files/'), res);
      if (p.startsWith('/browser/'))
        return await serveBrowserFile(root, pathAfter(p, '/browser/'), res, COMMON_HEADERS);
      throw new HttpError(404, `no page at ${p}`);
    } catch (e) {
      // A file under the runs folder that its schema refuses (a damaged or crafted checkpoint) is the
      // file's fault, said as such; anything else unexpected is logged, without the token.
      const status = e instanceof HttpError ? e.status : e instanceof InvalidFileError ? 422 : 500;
      if (status === 500) log(`serve: ${req.method} ${redactUrl(req.url ?? '')}: ${(e as Error).stack ?? e}`);
      const msg =
        e instanceof HttpError || e instanceof InvalidFileError ? e.message : `internal error: ${(e as Error).message}`;
      if (res.headersSent) {
        res.end();
        return;
      }
      if ((req.headers.accept ?? '').includes('text/html'))
        return send(
          res,
          status,
          'text/html; charset=utf-8',
          layout(`Error ${status}`, `<h1>${status}</h1><p>${escapeHtml(msg)}</p>`),
        );
      return send(res, status, 'application/json', JSON.stringify({ error: msg }));
    }
  };
  await new Promise<void>((ok, bad) => {
    server.once('error', bad);
    server.listen(o.port ?? 8080, host, () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/${token ? `?token=${token}` : ''}`,
    port,
    token,
    close: () =>
      new Promise<void>((ok) => {
        jobs.closeAll();
        views.close();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
