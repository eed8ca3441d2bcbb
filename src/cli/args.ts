// A small declarative flag parser: each command lists its options with types, defaults and help;
// unknown flags and bad values become one-line errors.
export type OptionType = 'string' | 'int' | 'number' | 'boolean';

export interface OptionSpec {
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  /** shown instead of the type in --help, e.g. "DIR" */
  metavar?: string;
  /** the least value a number may take (a count of images, steps or a batch: 1) */
  min?: number;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage?: string;
  options: Record<string, OptionSpec>;
  /** free text after the option list */
  epilog?: string;
}

export class UsageError extends Error {
  constructor(
    readonly command: string,
    msg: string,
  ) {
    super(msg);
    this.name = 'UsageError';
  }
}

export type ParsedArgs = Record<string, string | number | boolean | undefined>;

export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs | 'help' {
  const out: ParsedArgs = {};
  for (const [k, o] of Object.entries(spec.options)) if (o.default !== undefined) out[k] = o.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) throw new UsageError(spec.name, `unexpected argument '${arg}'`);
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let negated = false;
    if (!(name in spec.options) && name.startsWith('no-') && spec.options[name.slice(3)]?.type === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    const o = spec.options[name];
    if (!o) throw new UsageError(spec.name, `unknown option --${name}`);
    if (o.type === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false')
        throw new UsageError(spec.name, `--${name} takes no value (or =true/=false)`);
      out[name] = negated ? false : value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(spec.name, `--${name} needs a value`);
      // `--run-dir --resume` is a forgotten value, not a folder named "--resume"
      if (value.startsWith('--'))
        throw new UsageError(
          spec.name,
          `--${name} needs a value, got the flag ${value} (if that is the value, write --${name}=${value})`,
        );
    }
    out[name] = convert(spec.name, name, o, value);
  }
  return out;
}

function convert(cmd: string, name: string, o: OptionSpec, v: string): string | number {
  if (o.type === 'string') {
    if (o.choices && !o.choices.includes(v))
      throw new UsageError(cmd, `--${name} must be one of ${o.choices.join(', ')}, got '${v}'`);
    return v;
  }
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(cmd, `--${name} must be a number, got '${v}'`);
  if (o.type === 'int' && !Number.isInteger(n)) throw new UsageError(cmd, `--${name} must be an integer, got '${v}'`);
  if (o.min !== undefined && n < o.min) throw new UsageError(cmd, `--${name} must be at least ${o.min}, got ${v}`);
  return n;
}

export function helpText(spec: CommandSpec): string {
  const lines = [
    `selfguided ${spec.name}: ${spec.summary}`,
    '',
    `usage: ${spec.usage ?? `selfguided ${spec.name} [options]`}`,
    '',
    'options:',
  ];
  const rows = Object.entries(spec.options).map(([k, o]) => {
    const meta =
      o.type === 'boolean' ? '' : ` ${o.metavar ?? (o.choices ? o.choices.join('|') : o.type.toUpperCase())}`;
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : '';
    return [`  --${k}${meta}`, `${o.help}${def}`] as const;
  });
  rows.push(['  --help', 'show this help']);
  const width = Math.max(...rows.map(([a]) => a.length)) + 2;
  for (const [a, b] of rows) lines.push(`${a.padEnd(width)}${b}`);
  if (spec.epilog) lines.push('', spec.epilog);
  return lines.join('\n');
}

/** Reads a required option, or throws a usage error naming it. */
export function required<T extends string | number>(args: ParsedArgs, cmd: string, name: string): T {
  const v = args[name];
  if (v === undefined) throw new UsageError(cmd, `--${name} is required`);
  return v as T;
}

/** "0,1,2" or "0-9" -> [0, 1, 2] / [0..9] */
export function parseIdList(cmd: string, flag: string, v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(cmd, `--${flag} must be ids like 0,3,5 or 0-9, got '${v}'`);
    const a = Number(m[1]),
      b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new UsageError(cmd, `--${flag}: range ${a}-${b} is empty`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}
