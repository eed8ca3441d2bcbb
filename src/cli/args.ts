// Commands declared once: each lists its options with types, defaults and help, which give the parser,
// the --help text and the TypeScript type of what the command's body reads. Unknown flags and bad values
// become one-line errors.
import { z } from 'zod';
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
  /** the command cannot run without it */
  required?: boolean;
}

export type OptionSet = Readonly<Record<string, OptionSpec>>;

type Missing<S> = S extends { default: unknown } ? never : S extends { required: true } ? never : undefined;

/** The value an option gives the command: its type (or its choices), undefined when it has no default. */
export type OptionValue<S> = S extends { type: 'boolean' }
  ? boolean | Missing<S>
  : S extends { choices: readonly (infer C)[] }
    ? C | Missing<S>
    : S extends { type: 'int' | 'number' }
      ? number | Missing<S>
      : string | Missing<S>;

/** The typed options a command's body reads, from its option declarations. */
export type Options<O> = { -readonly [K in keyof O]: OptionValue<O[K]> };

/** How a command was invoked, beside its options. */
export interface RunContext {
  /** the chosen subcommand (or experiment name) of a command that has them */
  sub: string | undefined;
  /** the arguments after the command (and subcommand) as given */
  argv: string[];
}

/**
 * A command declared once: its flags give the parser, the defaults, the --help text and (through
 * Options) the type of what `run` reads; main.ts builds its table from these.
 */
export interface Command<O extends OptionSet = OptionSet> {
  name: string;
  summary: string;
  usage?: string;
  /** free text after the option list */
  epilog?: string;
  /** a required first word: `selfguided encoder train`, `selfguided experiment fashion-mnist` */
  subcommands?: readonly string[];
  options: O;
  run(o: Options<O>, ctx: RunContext): Promise<number>;
}

/** Declares a command; `const` keeps the options' literal types (choices, defaults) for Options. */
export const defineCommand = <const O extends OptionSet>(c: Command<O>): Command<O> => c;

/** Declares a group of options shared by several commands (data, data-parallel), keeping their literal types. */
export const defineOptions = <const O extends OptionSet>(o: O): O => o;

/** The runtime check of parsed values against the declarations (zod), after the parser's own messages. */
function schemaOf(name: string, options: OptionSet): z.ZodType<Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = {};
  for (const [k, o] of Object.entries(options)) {
    let t: z.ZodType =
      o.type === 'boolean'
        ? z.boolean()
        : o.choices
          ? z.enum(o.choices as [string, ...string[]])
          : o.type === 'string'
            ? z.string()
            : o.type === 'int'
              ? z
                  .number()
                  .int()
                  .min(o.min ?? Number.MIN_SAFE_INTEGER)
              : z.number().min(o.min ?? -Infinity);
    if (o.default === undefined && !o.required) t = t.optional();
    shape[k] = t;
  }
  return z.object(shape).strict().describe(name) as z.ZodType<Record<string, unknown>>;
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

type ParsedArgs = Record<string, string | number | boolean | undefined>;

/** Parses a command's flags into its typed options (defaults applied), or 'help' when --help is asked. */
export function parseArgs<O extends OptionSet>(
  spec: Pick<Command<O>, 'name' | 'options'>,
  argv: string[],
): Options<O> | 'help' {
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
  for (const [k, o] of Object.entries(spec.options))
    if (o.required && out[k] === undefined) throw new UsageError(spec.name, `--${k} is required`);
  const checked = schemaOf(spec.name, spec.options).safeParse(out);
  if (!checked.success)
    throw new UsageError(spec.name, checked.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  return checked.data as Options<O>;
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

export function helpText(spec: Pick<Command, 'name' | 'summary' | 'usage' | 'options' | 'epilog'>): string {
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
