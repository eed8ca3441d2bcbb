// Progress for long loops: a redrawn bar with rate and ETA on a terminal, plain lines otherwise.
export interface ProgressOptions {
  label: string;
  stream?: NodeJS.WriteStream;
  /** non-TTY: print a line every this many steps (and at the end) */
  every?: number;
  unit?: string;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly started = performance.now();
  private lastDraw = 0;
  private startStep: number;

  constructor(
    readonly total: number,
    readonly o: ProgressOptions,
    startStep = 0,
  ) {
    this.stream = o.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.startStep = startStep;
  }

  /** Reports progress at `done` of total; fields are shown as "name value". */
  update(done: number, fields: Record<string, string | number> = {}): void {
    const now = performance.now();
    const elapsed = (now - this.started) / 1000;
    const rate = (done - this.startStep) / Math.max(elapsed, 1e-9);
    const eta = (this.total - done) / rate;
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : v}`)
      .join('  ');
    const last = done >= this.total;
    if (this.tty) {
      if (!last && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((width * done) / Math.max(1, this.total));
      const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
      this.stream.write(
        `\r${this.o.label} [${bar}] ${done}/${this.total}  ${extra}  ETA ${fmtTime(eta)}\x1b[K${last ? '\n' : ''}`,
      );
    } else if (last || (done - this.startStep) % (this.o.every ?? 50) === 0) {
      this.stream.write(
        `${this.o.label} ${done}/${this.total}  ${extra}  elapsed ${fmtTime(elapsed)}  ETA ${fmtTime(eta)}\n`,
      );
    }
  }
}

function fmtNum(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(a < 1 ? 4 : 2);
}
