import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { GuardCode, InvokeGuard, InvokeguardHub, SECURITY_HUB_ENV, TrailAthena, TrailFileBackstop } from '../lib';
import { FIXTURES, guardTemplate, NO_BUNDLING, POLICIES, STUB_BOOTSTRAP_DIR, STUB_CLI, STUB_CODE } from './helpers';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const POLICIES_2026 = path.join(FIXTURES, 'invokers-2026.json');
const ORG_POLICIES = path.join(FIXTURES, 'org-invokers.json');

/** A guard as a library user writes it: no names, the CLI and code given, Athena over its trail. */
function plainGuard(stack: Stack, id: string, policiesFile: string, code = STUB_CODE): InvokeGuard {
  const guard = new InvokeGuard(stack, id, { policiesFile, code, cli: STUB_CLI });
  new TrailAthena(stack, `${id}Athena`, { trailBucket: guard.trail!.bucket, policiesFile, cli: guard.cli });
  return guard;
}

/** Every physical name a template sets, by resource type and property. */
function physicalNames(template: Template): Record<string, unknown[]> {
  const names: Record<string, unknown[]> = {};
  const add = (what: string, value: unknown) => { (names[what] ??= []).push(value); };
  for (const r of Object.values<any>(template.toJSON().Resources)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::Lambda::Function') add('FunctionName', p.FunctionName);
    if (r.Type === 'AWS::Logs::LogGroup') add('LogGroupName', p.LogGroupName);
    if (r.Type === 'AWS::Events::EventBus') add('EventBus', p.Name);
    if (r.Type === 'AWS::Glue::Database') add('GlueDatabase', p.DatabaseInput.Name);
    if (r.Type === 'AWS::Athena::WorkGroup') add('WorkGroup', p.Name);
  }
  return names;
}

test('no physical names by default: function and log group unnamed, bus, Glue database and workgroup generated', () => {
  const stack = new Stack(new App({ context: NO_BUNDLING }), 'Mine', { env: ENV });
  plainGuard(stack, 'Guard', POLICIES);
  const names = physicalNames(Template.fromStack(stack));
  assert.deepEqual(names.FunctionName, [undefined]);
  assert.deepEqual(names.LogGroupName, [undefined]);
  assert.match(String(names.EventBus[0]), /^MineGuardNotificationsBus[0-9A-F]{8}$/);
  assert.match(String(names.GlueDatabase[0]), /^mine_guardathena_[0-9a-f]{8}$/);
  assert.match(String(names.WorkGroup[0]), /^MineGuardAthena[0-9A-F]{8}$/);
});

test('two guards with different policies files synthesize side by side in one stack without a name collision', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-two-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'Two', { env: ENV });
  const guards = [plainGuard(stack, 'Web', POLICIES), plainGuard(stack, 'Batch', POLICIES_2026)];
  const template = Template.fromStack(stack);
  for (const [what, values] of Object.entries(physicalNames(template))) {
    const named = values.filter((v) => v !== undefined);
    assert.equal(new Set(named.map((v) => JSON.stringify(v))).size, named.length, `${what} collides: ${JSON.stringify(named)}`);
  }
  template.resourceCountIs('AWS::Lambda::Function', 2);
  template.resourceCountIs('AWS::Athena::WorkGroup', 2);
  // Each guard's package holds its own policies file (CDK's asset cache must not hand the first one to both).
  const assets = JSON.parse(fs.readFileSync(path.join(outdir, 'Two.assets.json'), 'utf8')).files as Record<string, any>;
  const packaged = guards.map((guard) => {
    const code = (guard.function.node.defaultChild as any).code;
    const key = Stack.of(guard).resolve(code.s3Key) as string;
    const asset = assets[key.replace(/\.zip$/, '')];
    return fs.readFileSync(path.join(outdir, asset.source.path, 'invokers.json'), 'utf8');
  });
  assert.deepEqual(packaged, [fs.readFileSync(POLICIES, 'utf8'), fs.readFileSync(POLICIES_2026, 'utf8')]);
});

test('a hub is a Construct in a stack of the user\'s own; its member template is a Stage beside it, not a deployed stack', () => {
  const app = new App({ context: NO_BUNDLING });
  const stack = new Stack(app, 'SecurityTooling', { env: { account: '999999999999', region: 'eu-west-1' } });
  new sns.Topic(stack, 'SomethingElse');
  const hub = new InvokeguardHub(stack, 'OrgGuard', {
    guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli: STUB_CLI },
    organizationId: 'o-a1b2c3d4e5',
    memberOrganizationalUnits: ['ou-ab12-abcdefgh'],
  });
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::SNS::Topic', 2);
  template.resourceCountIs('AWS::CloudFormation::StackSet', 1);
  template.hasResourceProperties('AWS::CloudFormation::StackSet', { StackSetName: 'SecurityTooling-members' });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ INVOKEGUARD_MEMBER_ROLE: 'invokeguard-member' }) },
  });
  assert.ok(Object.keys(hub.memberTemplates[0].Resources as object).some((id) => id.startsWith('MemberRole111111111111')));
  const assembly = app.synth();
  assert.deepEqual(assembly.stacks.map((s) => s.stackName), ['SecurityTooling']);
  assert.equal(assembly.nestedAssemblies.length, 1);
});

test('securityHub: true sets INVOKEGUARD_SECURITY_HUB=on and grants only BatchImportFindings on the account\'s own product', () => {
  const on = guardTemplate({ securityHub: true });
  on.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [SECURITY_HUB_ENV]: 'on' }) } });
  const statements = Object.values<any>(on.findResources('AWS::IAM::Role'))
    .flatMap((r) => (r.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement))
    .filter((s: any) => JSON.stringify(s.Action).includes('securityhub'));
  assert.deepEqual(statements, [{
    Sid: 'ImportSecurityHubFindings',
    Effect: 'Allow',
    Action: 'securityhub:BatchImportFindings',
    Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':securityhub:eu-west-1:123456789012:product/123456789012/default']] },
  }]);
  on.resourceCountIs('AWS::IAM::Policy', 0);

  const off = guardTemplate();
  assert.doesNotMatch(JSON.stringify(off.toJSON()), /securityhub|INVOKEGUARD_SECURITY_HUB/i);
});

test('securityHub on a hub reaches its guard; a contradicting guard.securityHub is an error', () => {
  const hubIn = (props: { securityHub?: boolean; guardSecurityHub?: boolean }) => {
    const stack = new Stack(new App({ context: NO_BUNDLING }), 'Hub', { env: { account: '999999999999', region: 'eu-west-1' } });
    new InvokeguardHub(stack, 'Hub', {
      guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli: STUB_CLI, securityHub: props.guardSecurityHub },
      organizationId: 'o-a1b2c3d4e5', memberOrganizationalUnits: ['ou-ab12-abcdefgh'], securityHub: props.securityHub,
    });
    return Template.fromStack(stack);
  };
  hubIn({ securityHub: true }).hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ [SECURITY_HUB_ENV]: 'on' }) },
  });
  assert.match(JSON.stringify(hubIn({ securityHub: true }).toJSON()), /:securityhub:eu-west-1:999999999999:product\/999999999999\/default/);
  assert.doesNotMatch(JSON.stringify(hubIn({}).toJSON()), /securityhub/i);
  assert.throws(() => hubIn({ securityHub: true, guardSecurityHub: false }), /Either provide securityHub or guard\.securityHub/);
});

test('addToRolePolicy adds to the guard role\'s inline policy; newTarget() delivers with the guard\'s retries and DLQ', () => {
  const stack = new Stack(new App({ context: NO_BUNDLING }), 'Mine', { env: ENV });
  const guard = new InvokeGuard(stack, 'Guard', { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI, createTrail: false, retryAttempts: 3 });
  guard.addToRolePolicy(new iam.PolicyStatement({ sid: 'Extra', actions: ['sqs:SendMessage'], resources: ['arn:aws:sqs:eu-west-1:123456789012:q'] }));
  new events.Rule(stack, 'Mine', { schedule: events.Schedule.expression('rate(1 day)'), targets: [guard.newTarget()] });
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::IAM::Policy', 0);
  template.hasResourceProperties('AWS::IAM::Role', {
    Policies: [Match.objectLike({ PolicyDocument: Match.objectLike({ Statement: Match.arrayWith([Match.objectLike({ Sid: 'Extra' })]) }) })],
  });
  template.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: 'rate(1 day)',
    Targets: [Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }), DeadLetterConfig: Match.anyValue() })],
  });
});

test('contradictory or malformed props are rejected with a clear error', () => {
  const stack = () => new Stack(new App({ context: NO_BUNDLING }), 'Mine', { env: ENV });
  const base = { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI };
  const s1 = stack();
  assert.throws(() => new InvokeGuard(s1, 'G', { ...base, existingEventBus: new events.EventBus(s1, 'Bus'), eventBusName: 'x' }),
    /Either provide existingEventBus or eventBusName, but not both/);
  assert.throws(() => new InvokeGuard(stack(), 'G', { ...base, functionName: 'no spaces allowed' }), /functionName "no spaces allowed" is not a Lambda function name/);
  assert.throws(() => new InvokeGuard(stack(), 'G', { ...base, code: undefined as unknown as GuardCode }), /code must be GuardCode\.fromAsset\(dir\) or GuardCode\.fromCargo/);
  assert.throws(() => new InvokeGuard(stack(), 'G', { ...base, code: GuardCode.fromAsset(path.join(STUB_BOOTSTRAP_DIR, 'absent')) }), /there is no bootstrap in it/);

  const s2 = stack();
  const guard = new InvokeGuard(s2, 'G', { ...base, createTrail: false });
  const bucket = s3.Bucket.fromBucketName(s2, 'Trail', 'org-trail');
  assert.throws(() => new TrailFileBackstop(s2, 'B1', { bucket, guard, logFileKeyPatterns: ['AWSLogs/*'] }),
    /logFileKeyPatterns needs logFilePrefix/);
  assert.throws(() => new TrailFileBackstop(s2, 'B2', { bucket, guard, logFilePrefix: 'AWSLogs/o-a1b2c3d4e5/', logFileKeyPatterns: ['Other/*'] }),
    /"Other\/\*" is not under logFilePrefix "AWSLogs\/o-a1b2c3d4e5\/"/);
  assert.throws(() => new TrailFileBackstop(s2, 'B3', { bucket, guard, logFilePrefix: 'AWSLogs/o-a1b2c3d4e5/', logFileKeyPatterns: [] }),
    /logFileKeyPatterns lists no pattern/);
});
