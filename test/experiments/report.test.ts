// The experiment report's pieces: SVG plots with nice ticks, and the claims checked against numbers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EvalMetrics } from '../../src/eval/evaluate.js';
import { claims, seedVariation, tailRecall, type RowResult } from '../../src/experiments/report.js';
import { niceTicks, renderLineCharts } from '../../src/experiments/svg-plot.js';

function metrics(fd: number, o: Partial<EvalMetrics> = {}): EvalMetrics {
  return {
    checkpoint: 'x',
    step: 1,
    condition: 'c',
    dataset: 'd',
    realImages: 100,
    n: 10,
    scale: 2,
    sampler: 'ddim',
    steps: 5,
    eta: 0,
    seed: 0,
    fd: { evalnet: fd },
    precision: 0.5,
    recall: 0.5,
    density: 1,
    coverage: 0.5,
    k: 5,
    isEvalnet: 3,
    confidence: 0.8,
    perClassRecall: null,
    consistency: null,
    seconds: { sampling: 1, metrics: 1 },
    device: 'cpu',
    ...o,
  };
}

function row(
  id: string,
  kind: RowResult['kind'],
  m: EvalMetrics | null,
  group: RowResult['group'] = 'balanced',
): RowResult {
  return { id, title: id, group, kind, k: 10, metrics: m, grid: '', selfLabelNmi: null };
}

describe('svg plot', () => {
  test('nice ticks', () => {
    assert.deepEqual(niceTicks(0, 5), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(niceTicks(0.13, 0.91), [0.2, 0.4, 0.6, 0.8]);
    assert.deepEqual(niceTicks(12, 97, 4), [25, 50, 75]);
    assert.deepEqual(niceTicks(3, 3), [3]);
    // bounds a rounding error apart: a step too small to move a float had looped until memory ran out
    assert.deepEqual(niceTicks(0.5, 0.5 + 1e-16), [0.5]);
    assert.deepEqual(niceTicks(1e-12, 3e-12), [1e-12, 1.5e-12, 2e-12, 2.5e-12, 3e-12]);
    assert.throws(() => niceTicks(0, Number.NaN), /finite/);
  });

  test('panels side by side, one polyline per series through every point', () => {
    const svg = renderLineCharts([
      {
        title: 'FD',
        xLabel: 's',
        yLabel: 'FD',
        series: [
          {
            name: 'FD',
            points: [
              [0, 10],
              [1, 5],
              [2, 7],
            ],
          },
        ],
      },
      {
        title: 'P & R',
        xLabel: 's',
        yLabel: 'v',
        series: [
          {
            name: 'precision',
            points: [
              [0, 0.2],
              [2, 0.8],
            ],
          },
          {
            name: 'recall',
            points: [
              [0, 0.9],
              [2, 0.4],
            ],
          },
        ],
      },
    ]);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="840" height="300"/);
    const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => m[1]!.split(' ').length);
    assert.deepEqual(lines, [3, 2, 2]);
    assert.equal((svg.match(/<circle /g) ?? []).length, 7);
    // the lowest FD point is drawn lowest (largest y) in the first panel
    const pts = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)][0]![1]!
      .split(' ')
      .map((p) => p.split(',').map(Number));
    assert.ok(pts[1]![1]! > pts[0]![1]! && pts[1]![1]! > pts[2]![1]!);
    assert.throws(
      () => renderLineCharts([{ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [] }] }]),
      /no finite points/,
    );
  });
});

describe('claims', () => {
  test('pending until rows exist', () => {
    const c = claims({ rows: [row('none', 'none', null)], sweep: [] });
    assert.equal(c.length, 5);
    for (const line of c) assert.match(line, /pending/);
  });

  test('verdicts follow the numbers', () => {
    const cons = (value: number, chance: number) => ({ kind: 'self-label' as const, value, chance, k: 10, method: '' });
    const rows = [
      row('none', 'none', metrics(30)),
      row('gt-labels', 'ground-truth', metrics(20)),
      row('self-k10', 'self-label', metrics(21, { consistency: cons(0.6, 0.1) })),
      row('self-k50', 'self-label', metrics(35, { consistency: cons(0.1, 0.02) })),
      row('lt-gt-labels', 'ground-truth', metrics(40), 'long-tail'),
      row('lt-self-k10', 'self-label', metrics(38), 'long-tail'),
    ];
    // Two evaluation seeds per scale: confidence differs by 0.02 between them (sd 0.014), the rest agree.
    const point = (scale: number, o: (seed: number) => Partial<EvalMetrics>) => ({
      scale,
      grid: '',
      runs: [0, 1].map((seed) => ({ seed, metrics: metrics(0, o(seed)) as EvalMetrics | null })),
    });
    const at = (i: number, seed: number): Partial<EvalMetrics> => ({
      fd: { evalnet: [40, 25, 21, 28][i]! },
      precision: [0.9, 0.3, 0.5, 0.7][i]!,
      recall: [0.1, 0.6, 0.5, 0.3][i]!,
      confidence: [0.5, 0.6, 0.7, 0.8][i]! + 0.02 * seed,
      isEvalnet: [1, 2, 3, 4][i]!,
    });
    const sweep = [0, 1, 2, 5].map((s, i) => point(s, (seed) => at(i, seed)));
    const c = claims({ rows, sweep });
    assert.match(c[0]!, /held in part\*\* for 1 of 2 self-label rows/);
    assert.match(
      c[1]!,
      /held \(within 10%\)\*\*: best self-label row self-k10 FD-evalnet 21\.00 against 20\.00 .*ratio 1\.05/,
    );
    assert.match(
      c[2]!,
      /2b.*lt-self-k10\): \*\*held with the first seed\*\* \(replicate seeds pending\): lt-self-k10 FD-evalnet 38\.00 against 40\.00/,
    );
    assert.match(
      c[3]!,
      /\*\*held\*\*: self-k10 0\.600 vs chance 0\.100 \(6\.0x\); self-k50 0\.100 vs chance 0\.020 \(5\.0x\)/,
    );
    assert.match(
      c[4]!,
      /over 2 evaluation seeds\): \*\*held\*\*: from s = 1 to s = 5 confidence goes 0\.610 ± 0\.014 -> 0\.810 ± 0\.014, recall 0\.600 ± 0\.000 -> 0\.300 ± 0\.000; k-NN precision 0\.300 ± 0\.000 -> 0\.700 ± 0\.000; FD-evalnet is lowest at s = 2 \(21\.00 ± 0\.00\), between the ends\. At s = 0 \(the unconditional branch alone\): FD-evalnet 40\.00 ± 0\.00, confidence 0\.510 ± 0\.014, precision 0\.900 ± 0\.000, recall 0\.100 ± 0\.000\./,
    );
    // Fidelity is the confidence: flat confidence turns the verdict whatever precision does.
    const flat = claims({
      rows,
      sweep: [0, 1, 2, 5].map((s, i) => point(s, (seed) => ({ ...at(i, seed), confidence: 0.7 }))),
    });
    assert.match(flat[4]!, /\*\*did not hold\*\*: from s = 1 to s = 5 confidence goes 0\.700 ± 0\.000 -> 0\.700/);
    const partial = claims({
      rows,
      sweep: [...sweep.slice(0, 3), { ...sweep[3]!, runs: [sweep[3]!.runs[0]!, { seed: 1, metrics: null }] }],
    });
    assert.match(partial[4]!, /pending/);
    const short = claims({ rows, sweep: sweep.slice(0, 2) });
    assert.match(short[4]!, /not measured: the sweep has fewer than two scales s >= 1/);
    const worse = claims({
      rows: [
        row('none', 'none', metrics(10)),
        row('gt-labels', 'ground-truth', metrics(10)),
        row('self-k10', 'self-label', metrics(15, { consistency: cons(0.15, 0.1) })),
      ],
      sweep: [],
    });
    assert.match(worse[0]!, /did not hold\*\* for 0 of 1/);
    assert.match(worse[1]!, /did not hold\*\*/);
    assert.match(worse[3]!, /did not hold for every row/);
  });
});

describe('the long-tail claim over replicate seeds', () => {
  const rows = [
    row('lt-none', 'none', metrics(60), 'long-tail'),
    row('lt-gt-labels', 'ground-truth', metrics(40), 'long-tail'),
    row('lt-self-k10', 'self-label', metrics(41), 'long-tail'),
    row('lt-self-k30', 'self-label', metrics(38), 'long-tail'),
  ];
  const reps = (gt: number[], self: number[]) => [
    { id: 'lt-gt-labels', seeds: gt.map((v, i) => ({ seed: i, metrics: metrics(v) })) },
    { id: 'lt-self-k30', seeds: self.map((v, i) => ({ seed: i, metrics: metrics(v) })) },
  ];
  const claim = (replicas: ReturnType<typeof reps>) => claims({ rows, sweep: [], replicas })[2]!;

  test('the best long-tailed self-label row is compared; every seed ahead is held', () => {
    assert.match(
      claim(reps([40, 42, 44], [38, 41, 43])),
      /row lt-self-k30\): \*\*held\*\* \(with every seed\): FD-evalnet over 3 seeds 40\.67 ± 2\.52 against 42\.00 ± 2\.00 \(ground truth\); per seed, self minus ground truth -2\.00, -1\.00, -1\.00/,
    );
  });
  test('ahead on average but not with every seed is not shown; behind did not hold', () => {
    assert.match(
      claim(reps([40, 42, 44], [38, 43, 43])),
      /\*\*not shown\*\* \(lower on average, but not with every seed\)/,
    );
    assert.match(claim(reps([40, 42, 44], [38, 45, 46])), /\*\*did not hold\*\*: FD-evalnet over 3 seeds/);
  });
  test('the first seed alone while replicates are pending; tail recall beside it', () => {
    const pc = (recalls: number[]) =>
      recalls.map((recall, label) => ({ label, name: null, realImages: 100 - 10 * label, recall }));
    const withTail = rows.map((r) =>
      r.metrics
        ? {
            ...r,
            metrics: {
              ...r.metrics,
              perClassRecall: pc(r.id === 'lt-gt-labels' ? [1, 1, 0.5, 0.1] : [1, 1, 0.9, 0.3]),
            },
          }
        : r,
    );
    const c = claims({
      rows: withTail,
      sweep: [],
      replicas: [
        {
          id: 'lt-gt-labels',
          seeds: [
            { seed: 0, metrics: metrics(40) },
            { seed: 1, metrics: null },
          ],
        },
      ],
    })[2]!;
    // The rarer half is classes 2 and 3 (fewest real images): (0.9 + 0.3) / 2 against (0.5 + 0.1) / 2.
    assert.match(
      c,
      /held with the first seed\*\* \(replicate seeds pending\).*tail recall \(rarer half of the classes\) 0\.600 against 0\.300 and 0\.600 without guidance/,
    );
  });
  test('tail recall: the rarer half of the classes present in the real subset', () => {
    const m = metrics(1, {
      perClassRecall: [50, 20, 10, 5, 0].map((realImages, label) => ({
        label,
        name: null,
        realImages,
        recall: realImages ? [0.9, 0.8, 0.4, 0.2][label]! : Number.NaN,
      })),
    });
    assert.equal(tailRecall(m), (0.4 + 0.2) / 2);
    assert.equal(tailRecall(metrics(1)), null);
  });
  test('pending until every long-tailed self-label row is evaluated', () => {
    assert.match(
      claims({ rows: [...rows, row('lt-self-k100', 'self-label', null, 'long-tail')], sweep: [] })[2]!,
      /2b.*pending/,
    );
  });
});

describe('seed variation', () => {
  test('per-seed rows, the FD spread and the self-minus-ground-truth gaps per seed', () => {
    const reps = (id: string, fds: (number | null)[]) => ({
      id,
      seeds: fds.map((v, i) => ({ seed: i, metrics: v === null ? null : metrics(v) })),
    });
    const lines = seedVariation([
      reps('gt-labels', [60, 64]),
      reps('self-k10', [63, 62]),
      reps('lt-gt-labels', [50, 52]),
      reps('lt-self-k10', [55, null]),
    ]).join('\n');
    assert.match(lines, /^\| self-k10 \| 1 \| 62\.00 \|/m);
    assert.match(lines, /^\| lt-self-k10 \| 1 \| pending \|/m);
    assert.match(
      lines,
      /gt-labels mean 62\.00, sd 2\.83, range 4\.00; self-k10 mean 62\.50, sd 0\.71, range 1\.00; lt-gt-labels mean 51\.00, sd 1\.41, range 2\.00\./,
    );
    assert.doesNotMatch(lines, /lt-self-k10 mean/);
    assert.match(
      lines,
      /balanced, self-k10 minus gt-labels: \+3\.00 \(seed 0\), -2\.00 \(seed 1\); long-tailed, lt-self-k10 minus lt-gt-labels: \+5\.00 \(seed 0\)\./,
    );
    assert.deepEqual(seedVariation([]), []);
  });
});
