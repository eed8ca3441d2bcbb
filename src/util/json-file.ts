// JSON read back from disk, validated with a zod schema: a corrupt or hand-edited file fails with its
// path and the offending field, not far away from where it was read.
import type { z } from 'zod';
import { readText, writeFileAtomic } from './files.js';

export class InvalidFileError extends Error {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`invalid ${source}: ${detail}`);
    this.name = 'InvalidFileError';
  }
}

/** Validates a value against a schema; errors name `source` and each field ("train.lr: expected number"). */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, source: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidFileError(source, issues);
  }
  return r.data;
}

/** Parses a JSON string that came from `source` (a file, or a field of one). */
export function parseJsonWith<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InvalidFileError(source, `not valid JSON (${(e as Error).message})`);
  }
  return parseWith(schema, raw, source);
}

/** Reads and validates a JSON file. */
export function readJsonFile<S extends z.ZodType>(path: string, schema: S): z.output<S> {
  return parseJsonWith(schema, readText(path), path);
}

/** Writes a value as pretty JSON, atomically. */
export function writeJsonFile(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** The default a zod object schema gives `key` (so a CLI's defaults come from the config schema). */
export function schemaDefault<S extends z.ZodObject, K extends keyof S['shape'] & string>(
  schema: S,
  key: K,
): z.output<S['shape'][K]> {
  const value = (schema.shape[key] as z.ZodType).safeParse(undefined);
  if (!value.success || value.data === undefined) throw new Error(`the schema has no default for '${key}'`);
  return value.data as z.output<S['shape'][K]>;
}
