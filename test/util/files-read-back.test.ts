// Files read back from disk are validated: a corrupt or hand-edited file fails with its path and the
// field, and every file the project has written so far still reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DiffusionTrainer, loadModel, TrainSettings } from '../../src/diffusion/index.js';
import { readEvalMetrics } from '../../src/eval/evaluate.js';
import { extractorFromProvenance } from '../../src/eval/rebuild-extractor.js';
import * as torch from '../../src/torch/index.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { schemaDefault } from '../../src/util/json-file.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-files-'));
const results = 'docs/results/fashion-mnist';

describe('files read back', () => {
  test('every metrics.json of the reproduction table reads, with the FD-evalnet the report quotes', () => {
    const files = readdirSync(results).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 11);
    for (const f of files) {
      const m = readEvalMetrics(join(results, f));
      assert.ok(m.fd.evalnet > 0 && m.n > 0, f);
      assert.equal(m.device, 'cpu', `${f}: files from before devices read as CPU`);
    }
    // The report's table quotes the same number (row, guidance, self-label NMI, then FD-evalnet).
    const report = readFileSync(`${results}.md`, 'utf8');
    const quoted = /^\| gt-labels \| [^|]+ \| [^|]+ \| (\d+\.\d\d) \|/m.exec(report)?.[1];
    assert.ok(quoted, 'gt-labels row in the report');
    assert.equal(readEvalMetrics(join(results, 'gt-labels.json')).fd.evalnet.toFixed(2), quoted);
  });

  test('a hand-edited metrics.json names the file and the field', () => {
    const dir = tmp();
    const raw = JSON.parse(readFileSync(join(results, 'none.json'), 'utf8'));
    raw.precision = 'high';
    const p = join(dir, 'metrics.json');
    writeFileSync(p, JSON.stringify(raw));
    assert.throws(() => readEvalMetrics(p), new RegExp(`invalid ${p}: precision: `));
    copyFileSync(join(results, 'none.json'), p);
    writeFileSync(p, readFileSync(p, 'utf8').slice(0, 100));
    assert.throws(() => readEvalMetrics(p), new RegExp(`invalid ${p}: not valid JSON`));
  });

  test("a checkpoint whose 'unet' metadata is malformed fails with the file and the field", async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, {
      config: {
        data: { kind: 'fashion-mnist', limit: 16 },
        model: { preset: 'tiny' },
        train: { steps: 1, batchSize: 4 },
      },
      log: () => {},
    });
    await t.train({ progress: false });
    t.dispose();
    const path = listCheckpoints(dir)[0]!;
    const { tensors, metadata } = torch.safetensors.loadFile(path);
    const unet = JSON.parse(metadata.unet!);
    unet.baseChannels = 'sixteen';
    torch.safetensors.saveFile(path, tensors, { ...metadata, unet: JSON.stringify(unet) });
    assert.throws(() => loadModel(dir), new RegExp(`invalid ${path} \\(metadata 'unet'\\): baseChannels: `));
  });

  test("a features file's extractor config is checked before g is rebuilt", async () => {
    await assert.rejects(
      extractorFromProvenance({
        extractor: 'diffusion',
        config: JSON.stringify({ checkpoint: '/x', block: 'middle' }),
      }),
      /invalid the diffusion extractor's recorded config: t: /,
    );
    await assert.rejects(
      extractorFromProvenance({ extractor: 'pixels-pca', config: '{"components": 4', dataSpec: '{}' }),
      /invalid the pixels-pca extractor's recorded config: not valid JSON/,
    );
  });

  test('CLI defaults are the config schema defaults', () => {
    const help = spawnSync(process.execPath, ['bin/selfguided.mjs', 'train', '--help'], { encoding: 'utf8' }).stdout;
    for (const [flag, key] of [
      ['lr', 'lr'],
      ['weight-decay', 'weightDecay'],
      ['ema-decay', 'emaDecay'],
      ['cond-drop', 'condDrop'],
      ['batch', 'batchSize'],
    ] as const) {
      const line = help.split('\n').find((l) => l.trimStart().startsWith(`--${flag} `))!;
      assert.match(line, new RegExp(`\\(default: ${schemaDefault(TrainSettings, key)}\\)`), line);
    }
  });
});
