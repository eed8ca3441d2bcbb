// selfguided export: a trained model for other runtimes (ONNX) and for the browser (a static page).
import { dirname } from 'node:path';
import { exportOnnx } from '../export/onnx-export.js';
import { exportWeb } from '../export/web-export.js';
import { ensureWritableDir } from '../util/files.js';
import { defineCommand } from './args.js';

export const command = defineCommand({
  name: 'export',
  summary:
    'write a trained model for other runtimes: its EMA UNet as ONNX with the schedule in its metadata, or a static page that samples it in the browser',
  options: {
    checkpoint: {
      required: true,
      type: 'string',
      metavar: 'RUN_DIR|FILE',
      help: 'a run directory (its latest checkpoint) or a checkpoint file (required)',
    },
    format: {
      type: 'string',
      default: 'onnx',
      choices: ['onnx', 'web'],
      help: 'onnx: one .onnx file; web: a folder (index.html, the model, onnxruntime-web) to publish on any static host',
    },
    out: {
      required: true,
      type: 'string',
      metavar: 'FILE|DIR',
      help: 'the file (onnx, e.g. model.onnx) or the folder (web) to write (required)',
    },
    ema: { type: 'boolean', default: true, help: 'onnx: the EMA weights (--no-ema: the raw ones)' },
  },
  async run(a) {
    const version = process.env.npm_package_version;
    if (a.format === 'web') {
      const r = await exportWeb(a.checkpoint, a.out, { version });
      process.stdout.write(
        `wrote ${r.out}/ (${r.files.join(', ')}); serve it with any static server (docs/export.md)\n`,
      );
      return 0;
    }
    ensureWritableDir(dirname(a.out));
    const r = exportOnnx(a.checkpoint, a.out, { ema: a.ema, version });
    process.stdout.write(
      `wrote ${r.out} (${(r.bytes / 1e6).toFixed(2)} MB, ONNX opset ${r.opset}, output '${r.prediction}'; docs/export.md)\n`,
    );
    return 0;
  },
});
