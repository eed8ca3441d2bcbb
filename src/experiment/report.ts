// The experiment's report: the results table, the long-tail rows with per-class recall, the guidance-scale
// sweep with its plot, one sample grid per row, the time spent, and the paper's claims checked against
// the numbers. Rewritten from the finished rows every time, so a partial run gives a partial report that
// says what is still pending.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { EvalMetrics } from '../eval/evaluate.js';
import {
  EVAL_COLUMNS,
  formatNumber,
  markdownHeader,
  metricCells,
  metricHeaders,
  type MetricColumn,
} from '../eval/format.js';
import type { Budget, BudgetName } from './budgets.js';
import { renderLineCharts } from './svg-plot.js';

export interface RowResult {
  id: string;
  title: string;
  group: 'balanced' | 'long-tail';
  kind: 'none' | 'ground-truth' | 'self-label' | 'feature' | 'random';
  k: number | null;
  metrics: EvalMetrics | null;
  /** the sample grid written by the evaluation */
  grid: string;
  /** NMI of the self-labels against the hidden classes (self-label rows) */
  selfLabelNmi: number | null;
}

export interface ReportInput {
  budgetName: BudgetName;
  budget: Budget;
  seed: number;
  root: string;
  docs: string;
  encoder: string;
  evalnet: string;
  evalnetAccuracy: number | null;
  rows: RowResult[];
  sweepRow: string | null;
  sweep: { scale: number; metrics: EvalMetrics | null; grid: string }[];
  timing: Record<string, number>;
  /** the command that produced it, quoted in the report */
  command?: string;
  /** rows trained and evaluated again with other seeds (the plan's seed first) */
  replicas?: { id: string; seeds: { seed: number; metrics: EvalMetrics | null }[] }[];
}

const f = (x: number | null | undefined, d = 3) => formatNumber(x, d);

/** selfguided eval's columns with FD on the SimCLR features beside FD-evalnet. */
const REPORT_COLUMNS: MetricColumn[] = ['fd-evalnet', 'fd-ssl', ...EVAL_COLUMNS.slice(1)];

const HEADER = markdownHeader(['row', 'guidance', 'self-label NMI', ...metricHeaders(REPORT_COLUMNS)]);

function tableRow(r: RowResult): string {
  return `| ${r.id} | ${r.title} | ${f(r.selfLabelNmi)} | ${metricCells(r.metrics, REPORT_COLUMNS).join(' | ')} |`;
}

const fd = (r: RowResult | undefined) => r?.metrics?.fd.evalnet;

/** The paper's four claims (method.md section 5) checked against the finished rows, in words. */
export function claims(i: Pick<ReportInput, 'rows' | 'sweep'>): string[] {
  const by = (id: string) => i.rows.find((r) => r.id === id);
  const selfRows = i.rows.filter((r) => r.group === 'balanced' && r.kind === 'self-label' && r.metrics);
  const none = by('none'),
    gt = by('gt-labels');
  const out: string[] = [];

  if (fd(none) !== undefined && selfRows.length > 0) {
    const better = selfRows.filter((r) => fd(r)! < fd(none)!);
    const list = selfRows.map((r) => `${r.id} ${f(fd(r), 2)}`).join(', ');
    out.push(
      `1. Self-labeled guidance beats no guidance (FD-evalnet ${f(fd(none), 2)}): ${better.length === selfRows.length ? '**held**' : better.length > 0 ? '**held in part**' : '**did not hold**'} for ${better.length} of ${selfRows.length} self-label rows (${list}).`,
    );
  } else out.push('1. Self-labeled vs no guidance: pending.');

  if (fd(gt) !== undefined && selfRows.length > 0) {
    const best = selfRows.reduce((a, b) => (fd(b)! < fd(a)! ? b : a));
    const ratio = fd(best)! / fd(gt)!;
    const verdict =
      ratio <= 1
        ? '**held (beats it)**'
        : ratio <= 1.1
          ? '**held (within 10%)**'
          : ratio <= 1.25
            ? '**held loosely (within 25%)**'
            : '**did not hold**';
    out.push(
      `2a. Self-labels come close to or beat ground-truth labels: ${verdict}: best self-label row ${best.id} FD-evalnet ${f(fd(best), 2)} against ${f(fd(gt), 2)} for the ground-truth labels (ratio ${f(ratio, 2)}).`,
    );
  } else out.push('2a. Self-labels vs ground-truth labels: pending.');

  const ltSelf = i.rows.find((r) => r.group === 'long-tail' && r.kind === 'self-label' && r.metrics),
    ltGt = by('lt-gt-labels'),
    ltNone = by('lt-none');
  if (ltSelf && fd(ltGt) !== undefined) {
    out.push(
      `2b. On the long-tailed set, self-labels do better than ground-truth labels: ${fd(ltSelf)! < fd(ltGt)! ? '**held**' : '**did not hold**'}: ${ltSelf.id} FD-evalnet ${f(fd(ltSelf), 2)} against ${f(fd(ltGt), 2)} (ground truth)${fd(ltNone) !== undefined ? ` and ${f(fd(ltNone), 2)} (no guidance)` : ''}; recall ${f(ltSelf.metrics!.recall)} against ${f(ltGt!.metrics!.recall)}.`,
    );
  } else out.push('2b. Long-tailed self-labels vs ground-truth labels: pending.');

  const judged = selfRows.filter((r) => r.metrics!.consistency);
  if (judged.length > 0) {
    const parts = judged.map((r) => {
      const c = r.metrics!.consistency!;
      return `${r.id} ${f(c.value)} vs chance ${f(c.chance)}${c.chance > 0 ? ` (${f(c.value / c.chance, 1)}x)` : ''}`;
    });
    const allFar = judged.every((r) => r.metrics!.consistency!.value >= 2 * r.metrics!.consistency!.chance);
    out.push(
      `3. Samples follow their self-label (assigned back to their cluster by the same g and f far more often than chance, taken as at least 2x): ${allFar ? '**held**' : '**did not hold for every row**'}: ${parts.join('; ')}.`,
    );
  } else out.push('3. Condition consistency: pending.');

  // The trade-off is read over s >= 1 (the paper's guidance weight w = s - 1 >= 0): s = 0 is the
  // unconditional branch alone, not a weaker guidance, and is reported beside it.
  const all = i.sweep.filter((s) => s.metrics).sort((a, b) => a.scale - b.scale);
  const sw = all.filter((s) => s.scale >= 1);
  if (all.length === i.sweep.length && sw.length >= 2) {
    const first = sw[0]!.metrics!,
      last = sw[sw.length - 1]!.metrics!;
    const bestFd = sw.reduce((a, b) => (b.metrics!.fd.evalnet < a.metrics!.fd.evalnet ? b : a));
    const precisionUp = last.precision > first.precision,
      recallDown = last.recall < first.recall;
    const interior = bestFd !== sw[0] && bestFd !== sw[sw.length - 1];
    const uncond = all.find((s) => s.scale === 0)?.metrics;
    const cons =
      first.consistency && last.consistency
        ? `; consistency ${f(first.consistency.value)} -> ${f(last.consistency.value)}`
        : '';
    out.push(
      `4. The guidance-scale sweep shows the fidelity/diversity trade-off (precision up, recall down as s grows from 1): ${precisionUp && recallDown ? '**held**' : '**did not hold**'}: from s = ${sw[0]!.scale} to s = ${sw[sw.length - 1]!.scale} precision goes ${f(first.precision)} -> ${f(last.precision)}, recall ${f(first.recall)} -> ${f(last.recall)}, IS-evalnet ${f(first.isEvalnet, 2)} -> ${f(last.isEvalnet, 2)}${cons}; FD-evalnet is lowest at s = ${bestFd.scale} (${f(bestFd.metrics!.fd.evalnet, 2)})${interior ? ', between the ends' : ', at an end of the range'}.${uncond ? ` At s = 0 (the unconditional branch alone): FD-evalnet ${f(uncond.fd.evalnet, 2)}, precision ${f(uncond.precision)}, recall ${f(uncond.recall)}.` : ''}`,
    );
  } else if (all.length === i.sweep.length && all.length > 0) {
    out.push('4. Guidance-scale sweep: not measured: the sweep has fewer than two scales s >= 1.');
  } else out.push('4. Guidance-scale sweep: pending.');
  return out;
}

/** The seed-variation section: each replicated row per seed, its FD spread, and the claims' gaps per seed. */
export function seedVariation(replicas: NonNullable<ReportInput['replicas']>): string[] {
  if (replicas.length === 0) return [];
  const lines = [
    '## Seed variation',
    '',
    'The rows the claims compare most closely, trained and evaluated again with other seeds (initialisation, data order, noise, the drawn conditions and the sampling noise change; the condition files and the long-tailed subset stay the same). The tables and claims above use the first seed.',
    '',
    '| row | seed | FD-evalnet | FD-ssl | IS-evalnet | precision | recall | density | coverage | consistency (chance) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...replicas.flatMap((r) =>
      r.seeds.map((s) => `| ${r.id} | ${s.seed} | ${metricCells(s.metrics, REPORT_COLUMNS).join(' | ')} |`),
    ),
    '',
  ];
  const fds = (id: string) => replicas.find((r) => r.id === id)?.seeds.map((s) => s.metrics?.fd.evalnet ?? null) ?? [];
  const spread = replicas
    .filter((r) => r.seeds.every((s) => s.metrics))
    .map((r) => {
      const v = r.seeds.map((s) => s.metrics!.fd.evalnet);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return `${r.id} mean ${f(mean, 2)}, range ${f(Math.max(...v) - Math.min(...v), 2)}`;
    });
  if (spread.length) lines.push(`FD-evalnet over ${replicas[0]!.seeds.length} seeds: ${spread.join('; ')}.`, '');
  const gaps: string[] = [];
  for (const [name, gt, self] of [
    ['balanced', 'gt-labels', replicas.find((r) => /^self-/.test(r.id))?.id],
    ['long-tailed', 'lt-gt-labels', replicas.find((r) => /^lt-self-/.test(r.id))?.id],
  ] as const) {
    if (!self) continue;
    const g = fds(gt),
      s = fds(self);
    const per = replicas[0]!.seeds
      .map((sd, i) =>
        g[i] != null && s[i] != null
          ? `${s[i]! - g[i]! >= 0 ? '+' : ''}${f(s[i]! - g[i]!, 2)} (seed ${sd.seed})`
          : null,
      )
      .filter((x) => x !== null);
    if (per.length) gaps.push(`${name}, ${self} minus ${gt}: ${per.join(', ')}`);
  }
  if (gaps.length)
    lines.push(
      `FD-evalnet of the self-labels minus that of the ground-truth labels, per seed (negative: self-labels better): ${gaps.join('; ')}.`,
      '',
    );
  return lines;
}

function sizeOf(rows: RowResult[]): string {
  const n = rows.find((r) => r.metrics)?.metrics!.realImages;
  return n === undefined ? '' : ` (${n.toLocaleString('en-US')} images)`;
}

function fmtMinutes(s: number): string {
  return (s / 60).toFixed(1);
}

export function writeReport(i: ReportInput): void {
  const dir = join(i.docs, 'fashion-mnist');
  mkdirSync(dir, { recursive: true });
  const rel = (p: string) => relative(i.docs, p);
  // Paths under the working directory are shown relative to it, so the report reads the same on any machine.
  const shown = (p: string) => {
    const r = relative(process.cwd(), p);
    return r.startsWith('..') || isAbsolute(r) ? p : r;
  };
  const devices = [
    ...new Set(
      [...i.rows.map((r) => r.metrics), ...i.sweep.map((s) => s.metrics)].filter((m) => m).map((m) => m!.device),
    ),
  ];
  const offCpu = devices.some((d) => d !== 'cpu');
  const copied = (id: string, grid: string, m: EvalMetrics | null): string | null => {
    if (!m || !existsSync(grid)) return null;
    const png = join(dir, `${id}.png`);
    copyFileSync(grid, png);
    writeFileSync(join(dir, `${id}.json`), `${JSON.stringify(m, null, 2)}\n`);
    return png;
  };
  const b = i.budget;
  const balanced = i.rows.filter((r) => r.group === 'balanced'),
    lt = i.rows.filter((r) => r.group === 'long-tail');
  const lines: string[] = [
    `# Self-guided diffusion on Fashion-MNIST: the reproduction table (budget \`${i.budgetName}\`)`,
    '',
    `Every row trains the same \`${b.preset}\` UNet for ${b.steps} steps at batch ${b.batchSize} (AdamW lr ${b.lr}, ${b.warmup}-step warm-up, EMA ${b.emaDecay}, condition dropout 0.1, seed ${i.seed}) and is evaluated the same way: ${b.samples} samples with ${b.sampler.toUpperCase()}-${b.sampleSteps} (eta 0) at guidance scale s = ${b.scale}, conditions drawn at random from the row's own training annotations, as in the paper. ${offCpu ? `Samples were drawn on ${devices.join(' and ')}; the time table marks the stages that ran on a GPU (features and metrics always run on the CPU).` : 'Every stage ran on the CPU.'}`,
    '',
    `- **FD-evalnet**: Frechet distance on the penultimate features (128-d) of an evaluation network trained on Fashion-MNIST's ground-truth labels for evaluation only${i.evalnetAccuracy !== null ? ` (test accuracy ${(100 * i.evalnetAccuracy).toFixed(2)}%)` : ''}; ${b.samples} samples against all real training images of the row's training set. It is not FID (no Inception network here). **FD-ssl**: the same on the SimCLR encoder g's backbone features (64-d).`,
    `- **precision, recall, density, coverage**: k = 5 nearest neighbours on the evaluation network's features, ${b.samples} samples against ${b.samples} real images drawn at random from the same training set. **IS-evalnet**: exp(E KL(p(y|x) || p(y))) from the evaluation network's classes (10 at most).`,
    "- **consistency**: for self-labels, the fraction of samples generated for cluster c that the same g and f (nearest centroid) assign back to c; for ground-truth labels, the evaluation network's accuracy on the samples; for the continuous feature, the mean cosine between g(sample) and its condition. In parentheses the chance level (agreement expected if the assignment ignored the condition; cosine with a shuffled condition).",
    `- **self-label NMI**: how well the self-labels recover the hidden classes (reported, never used).`,
    `- g: the SimCLR encoder of the self-labels study (docs/self-labels.md, best extractor: ResNet 16-32-64, crops >= 60%, backbone features), \`${shown(i.encoder)}\`; evaluation network \`${shown(i.evalnet)}\`.`,
    '',
    `## Balanced training set${sizeOf(balanced)}`,
    '',
    HEADER,
    ...balanced.map(tableRow),
    '',
    `## Long-tailed training set (rho = ${b.rho})`,
    '',
    `Class c keeps floor(n_max * ${b.rho}^(-c/9)) of its images${sizeOf(lt).replace(' (', ' (in all ')}, chosen with the seed; each row is evaluated against that same long-tailed set. The encoder g is the one trained on the full unlabeled set (no labels involved); k-means runs on the long-tailed images only.`,
    '',
    HEADER,
    ...lt.map(tableRow),
    '',
  ];
  const ltDone = lt.filter((r) => r.metrics?.perClassRecall);
  if (ltDone.length > 0) {
    const classes = ltDone[0]!.metrics!.perClassRecall!;
    lines.push(
      "Per-class recall (real images of each class inside the samples' k-NN manifold; the real subset holds the stated number of images of the class):",
      '',
      `| class | real images | ${ltDone.map((r) => r.id).join(' | ')} |`,
      `|---|---|${ltDone.map(() => '---|').join('')}`,
      ...classes.map(
        (c, ci) =>
          `| ${c.label} ${c.name ?? ''} | ${c.realImages} | ${ltDone.map((r) => f(r.metrics!.perClassRecall![ci]!.recall, 2)).join(' | ')} |`,
      ),
      '',
    );
  }
  lines.push(`## Guidance-scale sweep${i.sweepRow ? ` (${i.sweepRow})` : ''}`, '');
  if (i.sweepRow) {
    lines.push(
      '| s | FD-evalnet | FD-ssl | IS-evalnet | precision | recall | density | coverage | consistency (chance) |',
      '|---|---|---|---|---|---|---|---|---|',
      ...i.sweep.map((s) => `| ${s.scale} | ${metricCells(s.metrics, REPORT_COLUMNS).join(' | ')} |`),
      '',
    );
    const done = i.sweep.filter((s) => s.metrics);
    if (done.length >= 2) {
      const svg = renderLineCharts([
        {
          title: 'FD-evalnet vs guidance scale',
          xLabel: 'guidance scale s',
          yLabel: 'FD-evalnet (lower is better)',
          series: [{ name: 'FD-evalnet', points: done.map((s) => [s.scale, s.metrics!.fd.evalnet]) }],
        },
        {
          title: 'precision and recall vs guidance scale',
          xLabel: 'guidance scale s',
          yLabel: 'k-NN precision / recall',
          series: [
            { name: 'precision', points: done.map((s) => [s.scale, s.metrics!.precision]) },
            { name: 'recall', points: done.map((s) => [s.scale, s.metrics!.recall]) },
          ],
        },
      ]);
      writeFileSync(join(dir, 'fd-vs-scale.svg'), svg);
      lines.push('![FD and precision/recall vs guidance scale](fashion-mnist/fd-vs-scale.svg)', '');
    }
    for (const s of i.sweep) copied(`sweep-s${s.scale}`, s.grid, s.metrics);
  } else {
    lines.push(
      'Pending: the sweep runs on the self-label row with the lowest FD-evalnet once all self-label rows are evaluated.',
      '',
    );
  }
  lines.push(...seedVariation(i.replicas ?? []));
  lines.push(
    '## What held and what did not',
    '',
    'Checked by the runner against the numbers above (method.md section 5):',
    '',
    ...claims(i),
    '',
  );
  // Hand-written reading of the results, kept in its own file so that rewriting the report keeps it.
  const notes = join(i.docs, 'fashion-mnist.notes.md');
  if (existsSync(notes)) lines.push(readFileSync(notes, 'utf8').trim(), '');
  lines.push(
    '## Samples',
    '',
    `Each grid is taken from the row's ${b.samples} evaluation samples: for id-conditioned rows, 8 samples of each of the first 10 condition ids, one grid row per id in id order (so a self-label grid row is one cluster, a ground-truth row one class); unconditional and continuous rows show their first 80 samples.`,
    '',
  );
  for (const r of i.rows) {
    const png = copied(r.id, r.grid, r.metrics);
    if (png) lines.push(`**${r.id}** (${r.title}):`, '', `![${r.id}](${rel(png)})`, '');
  }
  const total = Object.values(i.timing).reduce((a, c) => a + c, 0);
  const reused = [
    ['the encoder g', i.encoder],
    ['the evaluation network', i.evalnet],
  ]
    .filter(([, p]) => !p!.startsWith(i.root))
    .map(([what, p]) => `${what} (\`${shown(p!)}\`)`);
  lines.push(
    '## Time',
    '',
    `Wall time of each stage on the machine that ran it, summed over every invocation (the run resumes across sessions): ${fmtMinutes(total)} min in all.${reused.length ? ` Not included: ${reused.join(' and ')}, reused from earlier runs.` : ''}`,
    '',
    '| stage | minutes |',
    '|---|---|',
    ...Object.entries(i.timing).map(([k, v]) => `| ${k} | ${fmtMinutes(v)} |`),
    '',
  );
  lines.push(
    '## How it was run',
    '',
    '```sh',
    i.command ?? `bin/selfguided.mjs experiment fashion-mnist --budget ${i.budgetName}`,
    '```',
    '',
    `Run directories, features, annotations and caches are under \`${shown(i.root)}\` (not committed); per-row metrics JSON and sample grids are in \`${rel(dir)}/\`. Running the command again skips every finished row.`,
    '',
  );
  writeFileSync(join(i.docs, 'fashion-mnist.md'), lines.join('\n'));
}
