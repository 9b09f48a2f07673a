// `invokeguard lint` on a template synthesized by a plain aws-cdk-lib app: grants made the ways
// CDK users make them (addPermission, grantInvoke, addFunctionUrl, CfnPermission) are judged
// against the allowlist by the real CLI, at the synthesized file's lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';

const ROOT = path.join(__dirname, '..', '..');
const POLICIES = path.join(ROOT, 'tests', 'fixtures', 'templates', 'policies.json');
const ENV = { account: '111122223333', region: 'eu-west-1' };

interface Finding { severity: string; logicalId: string; line: number; principal?: string; message: string }

/** A stack with the guarded function `orders-api`; `grant` adds the grants under test. */
function synth(grant: (fn: lambda.Function, stack: Stack) => void): { file: string; template: Record<string, any> } {
  const app = new App();
  const stack = new Stack(app, 'Orders', { env: ENV });
  const fn = new lambda.Function(stack, 'Orders', {
    functionName: 'orders-api',
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
  // The partner's grant and the topic's, both in the allowlist.
  new lambda.CfnPermission(stack, 'Partner', { functionName: fn.functionName, action: 'lambda:InvokeFunction', principal: '444455556666' });
  fn.addPermission('Topic', { principal: new iam.ServicePrincipal('sns.amazonaws.com'), sourceArn: `arn:aws:sns:${ENV.region}:${ENV.account}:orders` });
  grant(fn, stack);
  const file = app.synth().getStackArtifact(stack.artifactId).templateFullPath;
  return { file, template: JSON.parse(fs.readFileSync(file, 'utf8')) };
}

/** The real CLI's findings (`--format json`) and its exit code. */
function lint(file: string): { status: number | null; findings: Finding[]; stderr: string } {
  const bin = path.join(ROOT, 'target', 'debug', 'invokeguard');
  const r = spawnSync(bin, ['lint', '--policies', POLICIES, '--account', ENV.account, '--region', ENV.region, '--format', 'json', file], { encoding: 'utf8' });
  const findings = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Finding);
  return { status: r.status, findings, stderr: r.stderr };
}

/** The logical ids of the template's resources of `type` whose properties match `pick`. */
function idsOf(template: Record<string, any>, type: string, pick: (props: Record<string, any>) => boolean): string[] {
  return Object.entries(template.Resources as Record<string, any>)
    .filter(([, r]) => r.Type === type && pick(r.Properties ?? {}))
    .map(([id]) => id);
}

/** The 1-based line of a resource's key in the synthesized file. */
function lineOf(file: string, logicalId: string): number {
  return fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.trim() === `"${logicalId}": {`) + 1;
}

// The real Rust CLI; scripts/cdk-test.sh builds it first and sets this variable.
const rust = process.env.INVOKEGUARD_TEST_RUST_VALIDATOR === '1';

test('lint flags the public, foreign-account and source-less grants a CDK app synthesizes, by logical id and line', { skip: !rust && 'set INVOKEGUARD_TEST_RUST_VALIDATOR=1' }, () => {
  const { file, template } = synth((fn) => {
    fn.addPermission('Foreign', { principal: new iam.AccountPrincipal('999988887777') });
    fn.grantInvoke(new iam.ServicePrincipal('events.amazonaws.com'));
    fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
  });
  const { status, findings, stderr } = lint(file);
  assert.equal(status, 1, stderr);
  const errors = findings.filter((f) => f.severity === 'error');
  const perm = 'AWS::Lambda::Permission';
  const foreign = idsOf(template, perm, (p) => JSON.stringify(p.Principal).includes('999988887777'));
  const sourceless = idsOf(template, perm, (p) => p.Principal === 'events.amazonaws.com');
  const publicUrl = idsOf(template, perm, (p) => p.Principal === '*');
  assert.equal(foreign.length, 1);
  assert.equal(sourceless.length, 1);
  assert.ok(publicUrl.length >= 1, 'addFunctionUrl adds a public permission');
  const expected = [...foreign, ...sourceless, ...publicUrl].map((id) => `${id}@${lineOf(file, id)}`).sort();
  assert.deepEqual(errors.map((f) => `${f.logicalId}@${f.line}`).sort(), expected);
  assert.equal(errors.find((f) => f.logicalId === foreign[0])?.principal, '999988887777');
  // The grants in the allowlist are not findings; the Url resource itself is a note, not an error.
  const allowed = [...idsOf(template, perm, (p) => p.Principal === '444455556666'), ...idsOf(template, perm, (p) => p.Principal === 'sns.amazonaws.com')];
  assert.equal(allowed.length, 2);
  assert.ok(!findings.some((f) => allowed.includes(f.logicalId)), JSON.stringify(findings));
  const url = idsOf(template, 'AWS::Lambda::Url', () => true);
  assert.equal(findings.find((f) => f.logicalId === url[0])?.severity, 'note');
});

test('lint passes a synthesized template whose grants are the allowlist', { skip: !rust && 'set INVOKEGUARD_TEST_RUST_VALIDATOR=1' }, () => {
  const { file } = synth(() => {});
  const { status, findings, stderr } = lint(file);
  assert.equal(status, 0, stderr);
  assert.deepEqual(findings, []);
});
