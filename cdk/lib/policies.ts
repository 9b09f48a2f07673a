import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root, where the Rust crate (Cargo.toml) and policies/ live. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Environment variable naming a validator command that replaces the Rust CLI (tests, pre-built binaries). */
export const VALIDATOR_ENV = 'INVOKEGUARD_VALIDATOR';

export type GuardMode = 'enforce' | 'report';
export const GUARD_MODES: readonly GuardMode[] = ['enforce', 'report'];

/** One guarded function as the stack needs it: the key from the file and its qualifiers. */
export interface GuardedFunctionEntry {
  /** Key of `functions` in the policies file: a function name or an unqualified function ARN. */
  readonly key: string;
  readonly qualifiers: readonly string[];
}

export interface LoadedPolicies {
  /** Absolute path of the file that was validated and gets packaged. */
  readonly file: string;
  readonly defaultMode?: GuardMode;
  readonly functions: readonly GuardedFunctionEntry[];
}

/**
 * The validator command, without the file argument.
 * `INVOKEGUARD_VALIDATOR` (split on whitespace) wins so tests and CI can inject a stand-in;
 * otherwise the Rust CLI, which is the only place the file's rules are written down; given the guard's
 * function name, it also rejects a file that guards the guard.
 */
export function defaultValidatorCommand(
  manifestPath = path.join(REPO_ROOT, 'Cargo.toml'),
  guardFunction?: string,
): string[] {
  const fromEnv = process.env[VALIDATOR_ENV]?.trim();
  if (fromEnv) {
    return fromEnv.split(/\s+/);
  }
  const cli = ['cargo', 'run', '--quiet', '--manifest-path', manifestPath, '--bin', 'invokeguard', '--', 'validate'];
  return guardFunction ? [...cli, '--guard-function', guardFunction] : cli;
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
 */
export function loadPolicies(file: string, validator: readonly string[] = defaultValidatorCommand()): LoadedPolicies {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) {
    throw new Error(`invokeguard: policies file ${absolute} does not exist (set context policiesFile to choose another)`);
  }
  runValidator(validator, absolute);
  const doc = JSON.parse(fs.readFileSync(absolute, 'utf8')) as {
    defaults?: { mode?: string };
    functions?: Record<string, { qualifiers?: string[] }>;
  };
  const functions = Object.entries(doc.functions ?? {}).map(([key, fn]) => ({
    key,
    qualifiers: [...(fn?.qualifiers ?? [])],
  }));
  if (functions.length === 0) {
    throw new Error(`invokeguard: policies file ${absolute} guards no function; add one under "functions"`);
  }
  const mode = doc.defaults?.mode;
  return {
    file: absolute,
    defaultMode: GUARD_MODES.includes(mode as GuardMode) ? (mode as GuardMode) : undefined,
    functions,
  };
}
