// selfguided export: a trained model for other runtimes (ONNX).
import { dirname } from 'node:path';
import { exportOnnx } from '../export/onnx-export.js';
import { ensureWritableDir } from '../util/files.js';
import { defineCommand } from './args.js';

export const command = defineCommand({
  name: 'export',
  summary: 'write a trained model for other runtimes: its EMA UNet as an ONNX graph with the schedule in its metadata',
  options: {
    checkpoint: {
      required: true,
      type: 'string',
      metavar: 'RUN_DIR|FILE',
      help: 'a run directory (its latest checkpoint) or a checkpoint file (required)',
    },
    format: { type: 'string', default: 'onnx', choices: ['onnx'], help: 'what to write' },
    out: { required: true, type: 'string', metavar: 'FILE', help: 'the file to write, e.g. model.onnx (required)' },
    ema: { type: 'boolean', default: true, help: 'the EMA weights (--no-ema: the raw ones)' },
  },
  async run(a) {
    ensureWritableDir(dirname(a.out));
    const r = exportOnnx(a.checkpoint, a.out, { ema: a.ema, version: process.env.npm_package_version });
    process.stdout.write(
      `wrote ${r.out} (${(r.bytes / 1e6).toFixed(2)} MB, ONNX opset ${r.opset}, output '${r.prediction}'; docs/export.md)\n`,
    );
    return 0;
  },
});
