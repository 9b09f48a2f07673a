import * as fs from 'node:fs';
import * as path from 'node:path';

export type GuardMode = 'enforce' | 'report';
export const GUARD_MODES: readonly GuardMode[] = ['enforce', 'report'];

/** How the guard writes a policy: per-statement Add/RemovePermission, or one PutResourcePolicy. */
export type ApplyWith = 'permissions' | 'document';
export const APPLY_WITH: readonly ApplyWith[] = ['permissions', 'document'];

/** One guarded function as the stack needs it: the key from the file, its qualifiers and its own settings. */
export interface GuardedFunctionEntry {
  /** Key of `functions` in the policies file: a function name or an unqualified function ARN. */
  readonly key: string;
  readonly qualifiers: readonly string[];
  /** The function's own `mode`, overriding `defaults.mode`. */
  readonly mode?: GuardMode;
  /** The function's own `apply`, overriding `defaults.apply`. */
  readonly apply?: ApplyWith;
}

export interface LoadedPolicies {
  /** Absolute path of the file that was validated and gets packaged. */
  readonly file: string;
  readonly defaultMode?: GuardMode;
  readonly defaultApply?: ApplyWith;
  readonly functions: readonly GuardedFunctionEntry[];
}

/**
 * The mode the guard runs a function in, as the Rust guard decides it: `INVOKEGUARD_MODE=report`
 * (`override`) wins over everything; otherwise the function's own mode, then `enforce` from the
 * override or the file's `defaults.mode`, which itself defaults to `enforce`.
 */
export function effectiveMode(policies: LoadedPolicies, fn: GuardedFunctionEntry, override?: GuardMode): GuardMode {
  if (override === 'report') {
    return 'report';
  }
  return fn.mode ?? override ?? policies.defaultMode ?? 'enforce';
}

/**
 * Validates the policies file with `validate` (the CLI's `validate`), then reads only what the stack derives from it.
 * The shape checks below guard the CDK code against a stand-in validator; the rules live in Rust.
 * Allow entries (`service`, `account`, `principal`, `organization`, `functionUrl`, with `action`,
 * `sourceArn`, `sourceAccount`, `eventSourceToken`, ...) and any other key are not read here: the
 * stack needs none of them, and accepting or rejecting them is the validator's job alone.
 */
export function loadPolicies(file: string, validate: (file: string) => void): LoadedPolicies {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) {
    throw new Error(`invokeguard: policies file ${absolute} does not exist`);
  }
  validate(absolute);
  const doc = JSON.parse(fs.readFileSync(absolute, 'utf8')) as {
    defaults?: { mode?: unknown; apply?: unknown };
    functions?: Record<string, { qualifiers?: string[]; mode?: unknown; apply?: unknown }>;
  };
  const functions = Object.entries(doc.functions ?? {}).map(([key, fn]) => ({
    key,
    qualifiers: [...(fn?.qualifiers ?? [])],
    mode: oneOf(GUARD_MODES, fn?.mode),
    apply: oneOf(APPLY_WITH, fn?.apply),
  }));
  if (functions.length === 0) {
    throw new Error(`invokeguard: policies file ${absolute} guards no function; add one under "functions"`);
  }
  return {
    file: absolute,
    defaultMode: oneOf(GUARD_MODES, doc.defaults?.mode),
    defaultApply: oneOf(APPLY_WITH, doc.defaults?.apply),
    functions,
  };
}

/** `value` when it is one of `allowed`, else undefined (the validator has the final word on the file). */
function oneOf<T extends string>(allowed: readonly T[], value: unknown): T | undefined {
  return allowed.includes(value as T) ? (value as T) : undefined;
}
