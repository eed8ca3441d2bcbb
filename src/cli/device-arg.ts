// The --device flag shared by the commands that run a network: checked before anything is written.
import * as torch from '../torch/index.js';
import { UsageError } from './args.js';

export const deviceOption = {
  type: 'string',
  default: 'cpu',
  metavar: 'cpu|cuda|cuda:N',
  help: 'where the network runs; cuda needs the addon built against a CUDA libtorch (LIBTORCH=<dir> npm run build:native)',
} as const;

export function deviceFromArgs(cmd: string, a: { device: string }): torch.Device {
  try {
    return torch.parseDevice(a.device);
  } catch (e) {
    throw new UsageError(cmd, `--device: ${(e as Error).message}`);
  }
}
