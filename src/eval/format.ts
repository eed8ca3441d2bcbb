// The one markdown formatter of evaluation metrics: every table (selfguided eval's row, the experiment's
// report) picks its columns from here, so a metric reads the same everywhere.
import type { EvalMetrics } from './metrics-file.js';

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
