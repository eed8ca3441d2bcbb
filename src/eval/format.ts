// The one markdown formatter of evaluation metrics: every table (selfguided eval's row, the experiment's
// report) picks its columns from here, so a metric reads the same everywhere.
import type { EvalMetrics, LayoutMetrics } from './metrics-file.js';

const num = (x: number | null | undefined, d: number) =>
  x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d);

const COLUMNS = {
  'fd-evalnet': { header: 'FD-evalnet', cell: (m: EvalMetrics) => num(m.fd.evalnet, 2) },
  'fd-ssl': { header: 'FD-ssl', cell: (m: EvalMetrics) => num(m.fd.ssl, 3) },
  'is-evalnet': { header: 'IS-evalnet', cell: (m: EvalMetrics) => num(m.isEvalnet, 2) },
  precision: { header: 'precision', cell: (m: EvalMetrics) => num(m.precision, 3) },
  confidence: { header: 'confidence', cell: (m: EvalMetrics) => num(m.confidence, 3) },
  recall: { header: 'recall', cell: (m: EvalMetrics) => num(m.recall, 3) },
  density: { header: 'density', cell: (m: EvalMetrics) => num(m.density, 3) },
  coverage: { header: 'coverage', cell: (m: EvalMetrics) => num(m.coverage, 3) },
  consistency: {
    header: 'consistency (chance)',
    cell: (m: EvalMetrics) => {
      const c = m.consistency;
      if (!c) return 'n/a';
      const v = `${num(c.value, 3)} (${num(c.chance, 3)})`;
      return c.kind === 'feature-cosine' ? `cos ${v}` : v;
    },
  },
  presence: {
    header: 'classes present / absent (shuffled; real)',
    cell: (m: EvalMetrics) => {
      const p = m.presence;
      if (!p) return 'n/a';
      const pa = (x: { present: number; absent: number }) => `${num(x.present, 2)}/${num(x.absent, 2)}`;
      return `${pa(p.samples)} (${pa(p.shuffled)}; ${pa(p.real)})`;
    },
  },
} as const;
export type MetricColumn = keyof typeof COLUMNS;

/** The columns of `selfguided eval`'s row. */
export const EVAL_COLUMNS: MetricColumn[] = [
  'fd-evalnet',
  'is-evalnet',
  'precision',
  'recall',
  'density',
  'coverage',
  'consistency',
];

/** A number as the tables print it (n/a when missing). */
export const formatNumber = num;

/** Header cells of the columns. */
export function metricHeaders(cols: MetricColumn[]): string[] {
  return cols.map((c) => COLUMNS[c].header);
}

/** Cells of the columns for one evaluation ('pending' where it has not run yet). */
export function metricCells(m: EvalMetrics | null, cols: MetricColumn[]): string[] {
  return cols.map((c) => (m ? COLUMNS[c].cell(m) : 'pending'));
}

/** A markdown header with its separator line. */
export function markdownHeader(cells: string[]): string {
  return `| ${cells.join(' | ')} |\n|${cells.map(() => '---').join('|')}|`;
}

export const METRICS_HEADER = markdownHeader(['model', 'n', 'sampler', 's', ...metricHeaders(EVAL_COLUMNS)]);

/** One markdown table row of the metrics (under METRICS_HEADER). */
export function metricsRow(name: string, m: EvalMetrics): string {
  return `| ${[name, String(m.n), `${m.sampler}-${m.steps}`, String(m.scale), ...metricCells(m, EVAL_COLUMNS)].join(' | ')} |`;
}

/** The layout-following line of an evaluation, each figure beside its shuffled and real levels. */
export function layoutLine(l: LayoutMetrics): string {
  const f = l.foreground,
    sc = l.selfConsistency;
  return (
    `layout (${l.kind}): foreground IoU ${f.iou.toFixed(3)} (shuffled ${f.chanceIou.toFixed(3)}, real ${f.realIou.toFixed(3)})` +
    (f.inside !== null
      ? `, inside ${f.inside.toFixed(3)} (shuffled ${f.chanceInside!.toFixed(3)}, real ${f.realInside!.toFixed(3)})`
      : '') +
    (sc
      ? `; self-consistency ${sc.value.toFixed(3)} (shuffled ${sc.chance.toFixed(3)}, real ${sc.real.toFixed(3)})`
      : '') +
    (l.diversity ? `; diversity ${l.diversity.samples.toFixed(3)} (real ${l.diversity.real.toFixed(3)})` : '') +
    (l.shift ? `; layouts shifted by ${l.shift} px` : '')
  );
}

/** One line on label-set guidance as the canvas judge sees it (selfguided eval prints it under the row). */
export function presenceLine(p: NonNullable<EvalMetrics['presence']>): string {
  const pa = (x: { present: number; absent: number; exact: number }) =>
    `present ${num(x.present, 3)}, absent ${num(x.absent, 3)}, exact set ${num(x.exact, 3)}`;
  return `classes asked for (${p.via}), by the canvas judge: samples ${pa(p.samples)}; shuffled requests ${pa(p.shuffled)}; real canvases ${pa(p.real)}`;
}
