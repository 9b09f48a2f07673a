import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root, where the Rust crate (Cargo.toml) and policies/ live. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Environment variable naming a validator command that replaces the Rust CLI (tests, pre-built binaries). */
export const VALIDATOR_ENV = 'INVOKEGUARD_VALIDATOR';

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
 * The validator command, without the file argument.
 * `INVOKEGUARD_VALIDATOR` (split on whitespace) wins so tests and CI can inject a stand-in;
 * otherwise the Rust CLI, which is the only place the file's rules are written down; given the guard's
 * function name, it also rejects a file that guards the guard; given the home, it checks the keys against it.
 */
export function defaultValidatorCommand(
  manifestPath = path.join(REPO_ROOT, 'Cargo.toml'),
  guardFunction?: string,
  home?: ValidatorHome,
): string[] {
  const fromEnv = process.env[VALIDATOR_ENV]?.trim();
  if (fromEnv) {
    return fromEnv.split(/\s+/);
  }
  const cli = ['cargo', 'run', '--quiet', '--manifest-path', manifestPath, '--bin', 'invokeguard', '--', 'validate'];
  return [
    ...cli,
    ...(guardFunction ? ['--guard-function', guardFunction] : []),
    ...(home ? ['--account', home.account, '--region', home.region] : []),
  ];
}

/**
 * The guard's home account and region, when the stack's are concrete at synth: the validator then reads a name key as
 * that account's function, so a function keyed by its name and by its ARN there, or the guard's own ARN, fails synth
 * instead of the guard's init.
 */
export interface ValidatorHome {
  readonly account: string;
  readonly region: string;
}

/** Runs `validator... FILE`; throws with the validator's own message unless it exits 0. */
export function runValidator(validator: readonly string[], file: string): void {
  if (validator.length === 0) {
    throw new Error('invokeguard: the validator command is empty');
  }
  const [cmd, ...args] = validator;
  const result = spawnSync(cmd, [...args, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const shown = [cmd, ...args, file].join(' ');
  if (result.error) {
    throw new Error(`invokeguard: could not run the policies validator \`${shown}\`: ${result.error.message}`);
  }
  const stderr = (result.stderr ?? '').trim();
  if (result.status === 2) {
    throw new Error(`invokeguard: policies file ${file} is invalid:\n${stderr}`);
  }
  if (result.status !== 0) {
    const why = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
    throw new Error(`invokeguard: the policies validator \`${shown}\` failed (${why}); synth stops here:\n${stderr}`);
  }
}

/**
 * Validates the policies file with the validator, then reads only what the stack derives from it.
 * The shape checks below guard the CDK code against a stand-in validator; the rules live in Rust.
 * Allow entries (`service`, `account`, `principal`, `organization`, `functionUrl`, with `action`,
 * `sourceArn`, `sourceAccount`, `eventSourceToken`, ...) and any other key are not read here: the
 * stack needs none of them, and accepting or rejecting them is the validator's job alone.
 */
export function loadPolicies(file: string, validator: readonly string[] = defaultValidatorCommand()): LoadedPolicies {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) {
    throw new Error(`invokeguard: policies file ${absolute} does not exist (set context policiesFile to choose another)`);
  }
  runValidator(validator, absolute);
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
