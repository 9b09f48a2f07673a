import { spawnSync } from 'node:child_process';

/** The guard's home account and region, when the stack's are concrete at synth (see `InvokeguardCli.validate`). */
export interface ValidatorHome {
  readonly account: string;
  readonly region: string;
}

/** Stand-in commands for `InvokeguardCli.fromCommands`: each is run with the arguments the subcommand would get. */
export interface InvokeguardCliCommands {
  /** Replaces `invokeguard validate`: gets only the policies file; exit 0 valid, 2 invalid. */
  readonly validate?: readonly string[];
  /** Replaces `invokeguard athena-sql`: gets `--policies F --query Q --database D --table T [--account A --region R]`. */
  readonly athenaSql?: readonly string[];
  /** Replaces `invokeguard guardrails`: gets `--policies F --format json [--exempt-role ARN]... [--max-policies N] [--account A --region R]`. */
  readonly guardrails?: readonly string[];
}

/** What `invokeguard guardrails --format json` reports: the service control policies and what did not fit. */
export interface GuardrailsReport {
  readonly policies: readonly { readonly functions: readonly string[]; readonly size: number; readonly content: Record<string, unknown> }[];
  readonly leftOut: readonly { readonly function: string; readonly reason: string }[];
  readonly warnings: readonly string[];
  readonly notes: readonly string[];
  readonly limit: number;
}

/**
 * The `invokeguard` CLI, which holds the policies file's rules and writes the Athena queries: the constructs run it at
 * synth to validate the file (`validate`) and to generate the saved queries (`athena-sql`). Point it at a binary
 * (`fromBinary`, e.g. from `cargo install`), at a crate (`fromCargo`), or at stand-ins (`fromCommands`, for tests).
 * Output of `athena-sql` is kept per instance: a guard and its Athena share one CLI and run each query once.
 */
export class InvokeguardCli {
  /** `invokeguard` as found on PATH (`cargo install --path .` puts it there). */
  public static onPath(): InvokeguardCli {
    return InvokeguardCli.fromBinary('invokeguard');
  }

  /** A built `invokeguard` binary. */
  public static fromBinary(binary: string): InvokeguardCli {
    return new InvokeguardCli([binary]);
  }

  /** The `invokeguard` binary of the crate at `manifestPath`, built and run by `cargo run` (slow the first time). */
  public static fromCargo(manifestPath: string): InvokeguardCli {
    return new InvokeguardCli(['cargo', 'run', '--quiet', '--manifest-path', manifestPath, '--bin', 'invokeguard', '--']);
  }

  /** Stand-ins for the subcommands; a subcommand without one runs `invokeguard` from PATH. */
  public static fromCommands(commands: InvokeguardCliCommands): InvokeguardCli {
    return new InvokeguardCli(['invokeguard'], commands);
  }

  private readonly generated = new Map<string, string>();

  private constructor(private readonly prefix: readonly string[], private readonly standIns: InvokeguardCliCommands = {}) {}

  /**
   * Validates `file`; throws with the validator's own message unless it exits 0. Given the guard's function name, the
   * CLI also rejects a file that guards the guard; given its home, it reads name keys as that account's functions, so a
   * function keyed by its name and by its ARN there fails synth instead of the guard's init.
   */
  public validate(file: string, options: { readonly guardFunction?: string; readonly home?: ValidatorHome } = {}): void {
    const command = this.standIns.validate ? [...this.standIns.validate] : [
      ...this.prefix, 'validate',
      ...(options.guardFunction ? ['--guard-function', options.guardFunction] : []),
      ...(options.home ? ['--account', options.home.account, '--region', options.home.region] : []),
    ];
    if (command.length === 0) {
      throw new Error('invokeguard: the validator command is empty');
    }
    const [cmd, ...args] = command;
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

  /** The SQL `athena-sql ARGS` prints; throws with its own message unless it exits 0 with some output. */
  public athenaSql(args: readonly string[]): string {
    const command = this.standIns.athenaSql ? [...this.standIns.athenaSql] : [...this.prefix, 'athena-sql'];
    if (command.length === 0) {
      throw new Error('invokeguard: the athena-sql command is empty');
    }
    const key = JSON.stringify([command, args]);
    const cached = this.generated.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const [cmd, ...rest] = command;
    const result = spawnSync(cmd, [...rest, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const shown = [cmd, ...rest, ...args].join(' ');
    if (result.error) {
      throw new Error(`invokeguard: could not run \`${shown}\`: ${result.error.message}`);
    }
    if (result.status !== 0) {
      const why = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
      throw new Error(`invokeguard: \`${shown}\` failed (${why}); synth stops here:\n${(result.stderr ?? '').trim()}`);
    }
    const sql = result.stdout ?? '';
    if (sql.trim() === '') {
      throw new Error(`invokeguard: \`${shown}\` printed no SQL`);
    }
    this.generated.set(key, sql);
    return sql;
  }

  /**
   * The service control policies `guardrails` writes for `file` (exit 0, or 1 when a function was left out: both are
   * reports); throws with its own message on anything else.
   */
  public guardrails(file: string, options: { readonly exemptRoles: readonly string[]; readonly maxPolicies?: number; readonly home?: ValidatorHome }): GuardrailsReport {
    const command = this.standIns.guardrails ? [...this.standIns.guardrails] : [...this.prefix, 'guardrails'];
    if (command.length === 0) {
      throw new Error('invokeguard: the guardrails command is empty');
    }
    const args = [
      '--policies', file, '--format', 'json',
      ...options.exemptRoles.flatMap((role) => ['--exempt-role', role]),
      ...(options.maxPolicies !== undefined ? ['--max-policies', String(options.maxPolicies)] : []),
      ...(options.home ? ['--account', options.home.account, '--region', options.home.region] : []),
    ];
    const [cmd, ...rest] = command;
    const result = spawnSync(cmd, [...rest, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const shown = [cmd, ...rest, ...args].join(' ');
    if (result.error) {
      throw new Error(`invokeguard: could not run \`${shown}\`: ${result.error.message}`);
    }
    if (result.status !== 0 && result.status !== 1) {
      const why = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
      throw new Error(`invokeguard: \`${shown}\` failed (${why}); synth stops here:\n${(result.stderr ?? '').trim()}`);
    }
    try {
      return JSON.parse(result.stdout ?? '') as GuardrailsReport;
    } catch (e) {
      throw new Error(`invokeguard: \`${shown}\` printed no report (${(e as Error).message})`);
    }
  }
}
