// Sampling jobs of the web app's playground. Each job runs `selfguided sample` in a child process, so the
// server stays responsive, a job can be cancelled by killing it, and a job that crashes reports its error
// without taking the server down. The machine is shared, and bounded: one job at a time by default (two
// samplers on two cores only slow each other), a bounded queue (429 past it), a bounded amount of work
// per request, and ended jobs forgotten after a while.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { numEvaluations, type SamplerName } from '../diffusion/samplers.js';
import { SAMPLERS } from '../diffusion/schedulers.js';
import { HttpError } from './safe-path.js';

/** The command line the app's child processes run. */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'selfguided.mjs');

/** What the playground may ask for; bounded so that one request cannot occupy the machine for hours. */
export const SampleRequest = z
  .object({
    run: z.string().min(1),
    ids: z.array(z.number().int().min(0)).max(64).optional(),
    perId: z.number().int().min(1).max(16).default(4),
    n: z.number().int().min(1).max(64).default(16),
    scale: z.number().min(0).max(20).default(2),
    sampler: z.enum(SAMPLERS as [string, ...string[]]).default('ddim'),
    steps: z.number().int().min(1).max(1000).default(25),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    /** box layouts in fractions of the canvas, each box with a self-label id */
    boxes: z
      .array(
        z.object({
          box: z.tuple([
            z.number().min(0).max(1),
            z.number().min(0).max(1),
            z.number().min(0).max(1),
            z.number().min(0).max(1),
          ]),
          id: z.number().int().min(0),
        }),
      )
      .min(1)
      .max(16)
      .optional(),
    /** a mask layout at the model's resolution: rows of segment ids */
    mask: z
      .array(z.array(z.number().int().min(0).max(255)).min(1).max(256))
      .min(1)
      .max(256)
      .refine(
        (rows) => rows.every((r) => r.length === rows.length),
        'the mask must be square (as many rows as columns)',
      )
      .optional(),
  })
  .strict()
  .refine((r) => [r.boxes, r.mask, r.ids].filter((x) => x !== undefined).length <= 1, {
    message: 'give at most one of ids, boxes and mask',
  });
export type SampleRequest = z.infer<typeof SampleRequest>;

/** How many images a request makes (a layout: its samples per layout). */
export function requestImages(r: SampleRequest): number {
  if (r.boxes || r.mask) return r.perId;
  if (r.ids) return r.ids.length * r.perId;
  return r.n;
}

/** A request's work: images times network evaluations each (the sampler's, not its step count). */
export const requestWork = (r: SampleRequest) => requestImages(r) * numEvaluations(r.sampler as SamplerName, r.steps);

export interface JobLimits {
  /** jobs that run at once on this machine */
  concurrent: number;
  /** jobs waiting to run, beyond which a request is answered 429 */
  maxQueued: number;
  /** the most image-evaluations one request may ask for */
  maxWork: number;
  /** how long an ended job (done, failed, cancelled) stays readable, ms */
  keepEndedMs: number;
  /** the most ended jobs kept; the oldest go first */
  maxEnded: number;
}

export const DEFAULT_JOB_LIMITS: JobLimits = {
  concurrent: 1,
  maxQueued: 16,
  // 64 images at 500 evaluations, or 16 at 1,000 with Heun: minutes, not hours, on a small model
  maxWork: 32_000,
  keepEndedMs: 15 * 60_000,
  maxEnded: 100,
};

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobView {
  id: string;
  run: string;
  state: JobState;
  /** network evaluations done and in all, from the sampler's progress lines */
  progress: [number, number] | null;
  /** the grid, relative to the runs folder, once done */
  output: string | null;
  error: string | null;
  request: SampleRequest;
}

interface Job extends JobView {
  child: ChildProcess | null;
  /** when it ended (ms since the epoch), for forgetting it */
  ended: number | null;
  listeners: Set<(j: JobView) => void>;
}

function view(j: Job): JobView {
  const { child: _c, listeners: _l, ended: _e, ...v } = j;
  return v;
}

export class JobQueue {
  private readonly jobs = new Map<string, Job>();

  private readonly limits: JobLimits;

  constructor(
    private readonly root: string,
    private readonly log: (m: string) => void = () => {},
    limits: Partial<JobLimits> = {},
  ) {
    this.limits = { ...DEFAULT_JOB_LIMITS, ...limits };
  }

  /**
   * Queues a request for a run (an absolute run directory under the root); returns its id at once.
   * 413 past the work of one request, 429 when the queue is full.
   */
  submit(runDir: string, req: SampleRequest): JobView {
    const work = requestWork(req);
    if (work > this.limits.maxWork)
      throw new HttpError(
        413,
        `this request asks for ${requestImages(req)} images x ${numEvaluations(req.sampler as SamplerName, req.steps)} network evaluations = ${work}; the server takes at most ${this.limits.maxWork} (fewer images or steps, or selfguided sample on the command line)`,
      );
    this.forgetEnded();
    const waiting = [...this.jobs.values()].filter((j) => j.state === 'queued').length;
    if (waiting >= this.limits.maxQueued)
      throw new HttpError(
        429,
        `the queue is full (${waiting} jobs waiting); try again when one has finished, or cancel one`,
      );
    const id = randomBytes(6).toString('hex');
    const run = relative(this.root, runDir).split(sep).join('/') || '.';
    const job: Job = {
      id,
      run,
      state: 'queued',
      progress: null,
      output: null,
      error: null,
      request: req,
      child: null,
      ended: null,
      listeners: new Set(),
    };
    this.jobs.set(id, job);
    this.next();
    return view(job);
  }

  /** Jobs the queue holds now (running, waiting and recently ended), for tests and status. */
  get size(): number {
    this.forgetEnded();
    return this.jobs.size;
  }

  get(id: string): JobView | null {
    this.forgetEnded();
    const j = this.jobs.get(id);
    return j ? view(j) : null;
  }

  /** Calls fn on every change of the job until it ends; returns the function that stops listening. */
  watch(id: string, fn: (j: JobView) => void): () => void {
    const j = this.jobs.get(id);
    if (!j) return () => {};
    j.listeners.add(fn);
    fn(view(j));
    return () => j.listeners.delete(fn);
  }

  cancel(id: string): JobView | null {
    const j = this.jobs.get(id);
    if (!j) return null;
    if (j.state === 'queued') this.finish(j, 'cancelled', null);
    else if (j.state === 'running') {
      j.child?.kill('SIGKILL');
      this.finish(j, 'cancelled', null);
    }
    return view(j);
  }

  /** Stops every running job (the server is closing). */
  closeAll(): void {
    for (const j of this.jobs.values()) if (j.state === 'running' || j.state === 'queued') this.cancel(j.id);
  }

  private update(j: Job): void {
    const v = view(j);
    for (const fn of j.listeners) fn(v);
  }

  private finish(j: Job, state: JobState, error: string | null): void {
    if (j.state === 'done' || j.state === 'failed' || j.state === 'cancelled') return;
    j.state = state;
    j.error = error;
    j.child = null;
    j.ended = Date.now();
    // Ended jobs in the map in the order they ended, so that jobs ending in the same millisecond are
    // forgotten oldest first (the sort below is stable).
    this.jobs.delete(j.id);
    this.jobs.set(j.id, j);
    this.update(j);
    j.listeners.clear();
    this.next();
  }

  /** Starts waiting jobs, oldest first, while fewer than the limit run. */
  private next(): void {
    const all = [...this.jobs.values()];
    let running = all.filter((j) => j.state === 'running').length;
    for (const j of all) {
      if (running >= this.limits.concurrent) return;
      if (j.state !== 'queued') continue;
      this.start(j);
      running++;
    }
  }

  /** Drops ended jobs older than the limit, and the oldest past the count limit. */
  private forgetEnded(now = Date.now()): void {
    const ended = [...this.jobs.values()].filter((j) => j.ended !== null).sort((a, b) => a.ended! - b.ended!);
    const over = ended.length - this.limits.maxEnded;
    ended.forEach((j, i) => {
      if (i < over || now - j.ended! >= this.limits.keepEndedMs) this.jobs.delete(j.id);
    });
  }

  private start(j: Job): void {
    // Running from here on, so that no second job of the model starts while this one writes its layout.
    j.state = 'running';
    this.update(j);
    this.launch(j).catch((e: Error) => this.finish(j, 'failed', e.message));
  }

  private async launch(j: Job): Promise<void> {
    const runDir = join(this.root, j.run);
    const outRel = `${j.run === '.' ? '' : `${j.run}/`}samples/playground-${j.id}.png`;
    const r = j.request;
    const args = [CLI, 'sample', '--checkpoint', runDir, '--out', join(this.root, outRel)];
    args.push('--scale', String(r.scale), '--sampler', r.sampler, '--steps', String(r.steps), '--seed', String(r.seed));
    if (r.boxes || r.mask) {
      const layout = join(runDir, 'samples', `playground-${j.id}.layout.${r.boxes ? 'json' : 'png'}`);
      mkdirSync(dirname(layout), { recursive: true });
      if (r.boxes) writeFileSync(layout, JSON.stringify({ units: 'fraction', boxes: r.boxes }));
      else {
        // One grey level per segment id, as `selfguided sample --layout` reads masks.
        const size = r.mask!.length;
        const { default: sharp } = await import('sharp');
        await sharp(Buffer.from(r.mask!.flat()), { raw: { width: size, height: size, channels: 1 } })
          .png()
          .toFile(layout);
      }
      args.push('--layout', layout, '--per-id', String(r.perId));
    } else if (r.ids) args.push('--ids', r.ids.join(','), '--per-id', String(r.perId));
    else args.push('--n', String(r.n));
    if (j.state !== 'running') return; // cancelled while its layout was written
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    j.child = child;
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      const text = c.toString();
      stderr = (stderr + text).slice(-4000);
      const m = /sample (\d+)\/(\d+)/g;
      let last: RegExpExecArray | null = null;
      for (let x = m.exec(text); x; x = m.exec(text)) last = x;
      if (last) {
        j.progress = [Number(last[1]), Number(last[2])];
        this.update(j);
      }
    });
    child.on('error', (e) => this.finish(j, 'failed', `could not start the sampler: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (j.state !== 'running') return;
      if (code === 0) {
        j.output = outRel;
        this.finish(j, 'done', null);
      } else {
        // The CLI's own message (a bad id, a model that takes no ids...) is its last stderr line.
        const lines = stderr
          .trim()
          .split('\n')
          .filter((l) => !/^sample \d+\//.test(l));
        const why = lines.pop() ?? `the sampler exited with ${code ?? signal}`;
        this.log(`serve: job ${j.id} on ${j.run} failed: ${why}`);
        this.finish(j, 'failed', why.replace(/^selfguided sample: (error: )?/, ''));
      }
    });
  }
}
