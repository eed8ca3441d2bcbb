// The --device flag shared by the commands that run a network: checked before anything is written.
import * as torch from '../torch/index.js';
import { UsageError, type OptionSpec, type ParsedArgs } from './args.js';

export const deviceOption: OptionSpec = {
  type: 'string',
  default: 'cpu',
  metavar: 'cpu|cuda|cuda:N',
  help: 'where the network runs; cuda needs the addon built against a CUDA libtorch (LIBTORCH=<dir> npm run build:native)',
};

export function deviceFromArgs(cmd: string, a: ParsedArgs): torch.Device {
  try {
    return torch.parseDevice(a.device as string);
  } catch (e) {
    throw new UsageError(cmd, `--device: ${(e as Error).message}`);
  }
}
