// Deterministic lifetimes for native objects: everything created inside `tidy` is freed when it ends,
// except what it returns (which moves to the enclosing scope) and what was `keep`-ed.

export interface Tracked {
  dispose(): void;
  /** @internal the scope that owns this object, if any */
  _scope?: Scope;
  /** @internal called when no scope owns the object any more: it now lives until disposed or collected */
  _unscoped?(): void;
}

class Scope {
  readonly items = new Set<Tracked>();
}

const stack: Scope[] = [];
const TRACKED = Symbol.for('selfguided.tracked');

export function markTracked(proto: object): void {
  Object.defineProperty(proto, TRACKED, { value: true });
}

function isTracked(v: unknown): v is Tracked {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[TRACKED] === true;
}

/** @internal called by every native-object constructor */
export function track(t: Tracked): void {
  const s = stack[stack.length - 1];
  if (s !== undefined) {
    s.items.add(t);
    t._scope = s;
  } else t._unscoped?.();
}

/** Removes t from any scope: it lives until disposed by hand (or garbage collected). */
export function keep<T extends Tracked>(t: T): T {
  t._scope?.items.delete(t);
  t._scope = undefined;
  t._unscoped?.();
  return t;
}

/** @internal */
export function untrack(t: Tracked): void {
  t._scope?.items.delete(t);
  t._scope = undefined;
}

function collect(v: unknown, out: Set<Tracked>, depth: number): void {
  if (depth > 6 || typeof v !== 'object' || v === null) return;
  if (isTracked(v)) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const e of v) collect(e, out, depth + 1);
  } else if (v instanceof Map) {
    for (const e of v.values()) collect(e, out, depth + 1);
  } else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const e of Object.values(v)) collect(e, out, depth + 1);
  }
}

/**
 * Runs fn in a new scope. Native objects created inside and not returned are freed when it ends, also
 * when fn throws. Returned objects (also inside arrays, Maps and plain objects) move to the outer scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope.items) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope.items) t.dispose();
    throw new Error('tidy: fn returned a Promise; tidy scopes are synchronous (use tidy inside the async function)');
  }
  const kept = new Set<Tracked>();
  collect(result, kept, 0);
  const parent = stack[stack.length - 1];
  for (const t of scope.items) {
    if (kept.has(t)) {
      t._scope = undefined;
      if (parent) {
        parent.items.add(t);
        t._scope = parent;
      } else t._unscoped?.();
    } else {
      t.dispose();
    }
  }
  return result;
}

/** Number of open scopes (for tests and diagnostics). */
export function scopeDepth(): number {
  return stack.length;
}
