import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { InvokeguardCli } from '../lib/cli';
import { GuardCode } from '../lib/guard-code';
import { InvokeGuardProps } from '../lib/invoke-guard';
import { InvokeguardStack, InvokeguardStackProps } from '../lib/invokeguard-stack';

export const FIXTURES = path.join(__dirname, 'fixtures');
export const POLICIES = path.join(FIXTURES, 'invokers.json');
/** Stand-in for the Rust validator: accepts every file, so these tests do not need the crate built. */
export const ACCEPT_ALL = ['true'];

/** Stand-in for `invokeguard athena-sql`: prints a comment naming its arguments, so these tests do not need the crate built. */
export const STUB_ATHENA_SQL = [process.execPath, '-e', 'process.stdout.write("SELECT 1 -- stand-in: " + process.argv.slice(1).join(" "))', '--'];

/** The CLI's stand-ins: every file is valid, every query is a comment naming its arguments. */
export const STUB_CLI = InvokeguardCli.fromCommands({ validate: ACCEPT_ALL, athenaSql: STUB_ATHENA_SQL });

/** A directory holding a placeholder `bootstrap` (a tiny shell script): enough to synthesize, never run. */
export const STUB_BOOTSTRAP_DIR = path.join(FIXTURES, 'lambda');
export const STUB_CODE = GuardCode.fromAsset(STUB_BOOTSTRAP_DIR);

/** Context that skips asset bundling: unit tests never run the ~8 min arm64 cargo-lambda build. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] as string[] };

/** The names the repository's app gives (bin/app-config.ts); the library's defaults are generated. */
export const APP_GUARD_NAMES = { functionName: 'invokeguard', eventBusName: 'invokeguard' };
export const APP_ATHENA = { databaseName: 'invokeguard', workGroupName: 'invokeguard' };

export function guardStack(
  props: Partial<InvokeGuardProps> = {},
  app = new App({ context: NO_BUNDLING }),
  env = { account: '123456789012', region: 'eu-west-1' },
  athena: InvokeguardStackProps['athena'] = APP_ATHENA,
): InvokeguardStack {
  return new InvokeguardStack(app, 'Test', {
    env,
    guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI, ...APP_GUARD_NAMES, ...props },
    athena,
  });
}

export function guardTemplate(props: Partial<InvokeGuardProps> = {}): Template {
  return Template.fromStack(guardStack(props));
}

/** A function named in the policies file, as the template renders its ARN (partition stays a pseudo-parameter). */
export function nameArn(name: string, suffix = ''): unknown {
  return { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:lambda:eu-west-1:123456789012:function:${name}${suffix}`]] };
}
/** The fixture's function given by ARN, used as is. */
export const BILLING_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:Billing';

/** A policies file of `count` functions named `prefix0`, `prefix1`, ... in a temporary folder. */
export function manyFunctions(count: number, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-many-'));
  const functions = Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, { allow: [] }]));
  const file = path.join(dir, 'invokers.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, functions }));
  return file;
}

/** The repository (tests only: the library never resolves paths from its own location). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** A CLI whose `validate` is `command` and whose `athena-sql` is the stand-in. */
export function validatorCli(command: readonly string[]): InvokeguardCli {
  return InvokeguardCli.fromCommands({ validate: command, athenaSql: STUB_ATHENA_SQL });
}

/** The repository's own CLI, run by cargo (scripts/cdk-test.sh builds it first). */
export const RUST_CLI = InvokeguardCli.fromCargo(path.join(REPO_ROOT, 'Cargo.toml'));
