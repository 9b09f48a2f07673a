import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { InvokeguardCli } from '../lib/cli';
import { GuardCode } from '../lib/guard-code';
import { StackSetCallAs } from '../lib/hub';
import { InvokeguardHubStack } from '../lib/hub-stack';
import { InvokeGuardProps } from '../lib/invoke-guard';
import { InvokeguardStack } from '../lib/invokeguard-stack';
import { GuardMode } from '../lib/policies';

/** Environment variables naming stand-ins for the CLI's `validate` and `athena-sql` (tests, CI), split on whitespace. */
export const VALIDATOR_ENV = 'INVOKEGUARD_VALIDATOR';
export const ATHENA_SQL_ENV = 'INVOKEGUARD_ATHENA_SQL';

/**
 * The names this app has always deployed under (the library generates them by default): the README, the saved queries
 * and existing deployments use them.
 */
export const APP_NAMES = { functionName: 'invokeguard', eventBusName: 'invokeguard', athena: 'invokeguard' } as const;

export interface AppOptions {
  /** The repository: policies files, the crate and its build output are found from here. */
  readonly repoRoot: string;
  /** @default - GuardCode.fromAsset of the arm64 release build, `<CARGO_TARGET_DIR or target>/lambda/invokeguard-lambda` */
  readonly code?: GuardCode;
  /** @default - the stand-ins in `$INVOKEGUARD_VALIDATOR` / `$INVOKEGUARD_ATHENA_SQL`, else `cargo run` of the repository's crate */
  readonly cli?: InvokeguardCli;
}

/** The directory `cargo lambda build --release --arm64 --bin invokeguard-lambda` writes the bootstrap to. */
export function releaseLambdaDir(repoRoot: string): string {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR) : path.join(repoRoot, 'target');
  return path.join(target, 'lambda', 'invokeguard-lambda');
}

function appCli(repoRoot: string): InvokeguardCli {
  const split = (name: string) => process.env[name]?.trim() ? process.env[name]!.trim().split(/\s+/) : undefined;
  const validate = split(VALIDATOR_ENV);
  const athenaSql = split(ATHENA_SQL_ENV);
  const cargo = ['cargo', 'run', '--quiet', '--manifest-path', path.join(repoRoot, 'Cargo.toml'), '--bin', 'invokeguard', '--'];
  if (validate || athenaSql) {
    return InvokeguardCli.fromCommands({ validate, athenaSql: athenaSql ?? [...cargo, 'athena-sql'] });
  }
  return InvokeguardCli.fromCargo(path.join(repoRoot, 'Cargo.toml'));
}

/** Context keys only a hub (`-c hub=true`) reads. */
export const HUB_CONTEXT_KEYS: readonly string[] = [
  'organizationId', 'memberOrganizationalUnits', 'memberRoleName', 'memberRegions', 'hubEventBusName', 'callAs',
  'stackSetName', 'orgTrailBucket', 'orgTrailBucketAccount', 'orgTrailKmsKeyArn',
];

/** Context keys only the single-account stack reads. */
export const SINGLE_ACCOUNT_CONTEXT_KEYS: readonly string[] = ['createTrail'];

const list = (value: string | undefined): string[] | undefined =>
  value?.split(',').map((v) => v.trim()).filter((v) => v !== '');

/**
 * Adds the stack the context selects to `app`: with `-c hub=true` the hub stack (InvokeguardHubStack), which needs
 * `organizationId` and `memberOrganizationalUnits`; otherwise the single-account stack, as before. Context that the
 * selected stack would ignore, or a missing required value, is an error.
 */
export function addStackFromContext(app: App, options: AppOptions): Stack {
  const repoRoot = options.repoRoot;
  const context = (key: string): string | undefined => {
    const value = app.node.tryGetContext(key);
    return value === undefined || value === '' ? undefined : String(value);
  };
  const hubValue = context('hub');
  if (hubValue !== undefined && hubValue !== 'true' && hubValue !== 'false') {
    throw new Error(`invokeguard: context hub must be true or false, got "${hubValue}".`);
  }
  const hub = hubValue === 'true';
  // -c securityHub=true: findings in Security Hub (off unless asked).
  const flag = (key: string): boolean | undefined => {
    const value = context(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw new Error(`invokeguard: context ${key} must be true or false, got "${value}".`);
    return value === 'true';
  };
  const given = (keys: readonly string[]) => keys.filter((key) => context(key) !== undefined);
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const guard: InvokeGuardProps = {
    // Relative paths are taken from the repository root, where `make deploy` and the docs start.
    policiesFile: path.resolve(repoRoot, context('policiesFile') ?? 'policies/invokers.json'),
    // -c guardCodeDir=DIR: a directory holding another built bootstrap.
    code: options.code ?? GuardCode.fromAsset(path.resolve(repoRoot, context('guardCodeDir') ?? releaseLambdaDir(repoRoot))),
    cli: options.cli ?? appCli(repoRoot),
    functionName: APP_NAMES.functionName,
    mode: context('mode') as GuardMode | undefined,
    alertEmail: context('alertEmail'),
    eventBusName: context('eventBusName') ?? APP_NAMES.eventBusName,
    sweepSchedule: context('sweepSchedule'),
    securityHub: flag('securityHub'),
  };

  if (!hub) {
    const hubOnly = given(HUB_CONTEXT_KEYS);
    if (hubOnly.length > 0) {
      throw new Error(`invokeguard: context ${hubOnly.join(', ')} only applies to a hub; add -c hub=true, or leave ${hubOnly.length > 1 ? 'them' : 'it'} out.`);
    }
    const createTrail = context('createTrail') === undefined ? undefined : context('createTrail') !== 'false';
    return new InvokeguardStack(app, context('stackName') ?? 'Invokeguard', {
      description: 'invokeguard: keeps Lambda resource policies to the allowlist in policies/invokers.json',
      env,
      guard: { ...guard, createTrail },
      athena: createTrail === false ? undefined : { databaseName: APP_NAMES.athena, workGroupName: APP_NAMES.athena },
    });
  }

  const errors: string[] = [];
  const singleOnly = given(SINGLE_ACCOUNT_CONTEXT_KEYS);
  if (singleOnly.length > 0) {
    errors.push(`context ${singleOnly.join(', ')} does not apply to a hub (it relies on an organization trail); leave it out.`);
  }
  const organizationId = context('organizationId');
  if (organizationId === undefined) {
    errors.push('a hub needs -c organizationId=o-... (the organization whose accounts it guards).');
  }
  const ous = list(context('memberOrganizationalUnits'));
  if (!ous || ous.length === 0) {
    errors.push('a hub needs -c memberOrganizationalUnits=ou-...,ou-... (the OUs whose accounts get the member template).');
  }
  const bucket = context('orgTrailBucket');
  const bucketAccount = context('orgTrailBucketAccount');
  if ((bucket === undefined) !== (bucketAccount === undefined)) {
    errors.push('orgTrailBucket and orgTrailBucketAccount go together (the organization trail\'s bucket and the account owning it).');
  }
  if (context('orgTrailKmsKeyArn') !== undefined && bucket === undefined) {
    errors.push('orgTrailKmsKeyArn needs orgTrailBucket and orgTrailBucketAccount.');
  }
  if (errors.length > 0) {
    throw new Error(`invokeguard: ${errors.join('\ninvokeguard: ')}`);
  }
  return new InvokeguardHubStack(app, context('stackName') ?? 'InvokeguardHub', {
    description: 'invokeguard hub: keeps the Lambda resource policies of an organization\'s member accounts to the allowlist',
    env,
    guard,
    organizationId: organizationId!,
    memberOrganizationalUnits: ous!,
    memberRoleName: context('memberRoleName'),
    memberRegions: list(context('memberRegions')),
    hubEventBusName: context('hubEventBusName'),
    callAs: context('callAs') as StackSetCallAs | undefined,
    stackSetName: context('stackSetName'),
    organizationTrail: bucket && bucketAccount
      ? { bucketName: bucket, account: bucketAccount, encryptionKeyArn: context('orgTrailKmsKeyArn') }
      : undefined,
    athena: bucket ? { databaseName: APP_NAMES.athena, workGroupName: APP_NAMES.athena } : undefined,
  });
}
