import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addStackFromContext } from '../bin/app-config';
import { ACCESS_DENIED_ERROR_CODES, EVENT_PATTERN_LIMIT, GUARD_LAMBDA_ACTIONS, notRefused } from '../lib/guarded-functions';
import { MEMBER_ROLE_ENV, TEMPLATE_RESOURCE_LIMIT, TEMPLATE_URL_LIMIT } from '../lib/hub';
import { InvokeguardHubStack, InvokeguardHubStackProps } from '../lib/hub-stack';
import { InvokeguardStack } from '../lib/invokeguard-stack';
import { HOME_ACCOUNT_ENV, ROLE_ARN_ENV } from '../lib/invoke-guard';
import { functionsByAccount, InvokeguardMemberStack, MEMBER_ROLE_ACTIONS } from '../lib/member-stack';
import { APP_ATHENA, REPO_ROOT, RUST_CLI } from './helpers';
import { InvokeguardCli } from '../lib/cli';
import { CLOUDTRAIL_COLUMNS } from '../lib/cloudtrail-columns';
import { SAVED_QUERIES } from '../lib/trail-athena';
import { FIXTURES, NO_BUNDLING, POLICIES, STUB_CLI, STUB_CODE } from './helpers';

const ORG_POLICIES = path.join(FIXTURES, 'org-invokers.json');
const ORG = 'o-a1b2c3d4e5';
const OUS = ['ou-ab12-abcdefgh', 'ou-cd34-ijklmnop'];
const HUB_ENV = { account: '999999999999', region: 'eu-west-1' };

function hubStack(props: Partial<InvokeguardHubStackProps> = {}, app = new App({ context: NO_BUNDLING })): InvokeguardHubStack {
  return new InvokeguardHubStack(app, 'Hub', {
    env: HUB_ENV,
    guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli: STUB_CLI },
    organizationId: ORG,
    memberOrganizationalUnits: OUS,
    // The names the repository's app gives Athena (the library generates them).
    athena: APP_ATHENA,
    ...props,
  });
}
const partitionArn = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, rest]] });
const ORDERS_ARN = 'arn:aws:lambda:eu-west-1:111111111111:function:Orders';
const BILLING_MEMBER_ARN = 'arn:aws:lambda:eu-west-1:111111111111:function:Billing';

test('the hub bus lets only principals of the organization put events', () => {
  const template = Template.fromStack(hubStack({ hubEventBusName: 'org-lambda-events' }));
  const buses = template.findResources('AWS::Events::EventBus', { Properties: { Name: 'org-lambda-events' } });
  assert.equal(Object.keys(buses).length, 1);
  const [busId] = Object.keys(buses);
  const policies = Object.values(template.findResources('AWS::Events::EventBusPolicy'));
  assert.equal(policies.length, 1);
  assert.deepEqual(policies[0].Properties.EventBusName, { Ref: busId });
  assert.deepEqual(policies[0].Properties.Statement, {
    Sid: 'cdk-OrganizationPutEvents',
    Effect: 'Allow',
    Principal: '*',
    Action: 'events:PutEvents',
    Resource: { 'Fn::GetAtt': [busId, 'Arn'] },
    Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
  });
});

test('the hub bus name defaults to a generated one', () => {
  const template = Template.fromStack(hubStack());
  const buses = template.findResources('AWS::Events::EventBus', { Properties: { Description: Match.stringLikeRegexp('hub') } });
  assert.equal(Object.keys(buses).length, 1);
  assert.ok(Object.values(buses)[0].Properties.Name.startsWith('Hub'));
});

test('Invoke, change and trail-file rules are on the hub bus and target the guard with the same retries and DLQ', () => {
  const stack = hubStack({ organizationTrail: { bucketName: 'org-trail', account: '444444444444' }, memberRegions: ['eu-west-1', 'us-east-1'] });
  const template = Template.fromStack(stack);
  const busRef = { Ref: stack.getLogicalId(stack.hubBus.node.defaultChild as CfnElement) };
  const onHub = template.findResources('AWS::Events::Rule', { Properties: { EventBusName: busRef } });
  const patterns = Object.values(onHub).map((r) => r.Properties.EventPattern);
  assert.equal(patterns.length, 3);
  // The member accounts' Invoke events: each member's forwarding rules already picked its guarded functions.
  assert.deepEqual(patterns.find((p) => p.detail.eventName?.[0] === 'Invoke'), {
    source: ['aws.lambda'],
    'detail-type': ['AWS API Call via CloudTrail'],
    account: ['111111111111', '222222222222'],
    detail: {
      eventSource: ['lambda.amazonaws.com'],
      eventName: ['Invoke', 'InvokeFunctionUrl'],
      errorCode: notRefused(),
    },
  });
  // The single-account stack's change pattern, unchanged.
  const single = Template.fromStack(new InvokeguardStack(new App({ context: NO_BUNDLING }), 'S', {
    env: HUB_ENV, guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI }, athena: false,
  }));
  const singleChange = Object.values(single.findResources('AWS::Events::Rule', {
    Properties: { EventPattern: Match.objectLike({ detail: Match.objectLike({ eventCategory: ['Management'] }) }) },
  }))[0].Properties.EventPattern;
  assert.deepEqual(patterns.find((p) => p.detail.eventCategory), singleChange);
  assert.deepEqual(patterns.find((p) => p.source[0] === 'aws.s3'), {
    source: ['aws.s3'],
    'detail-type': ['Object Created'],
    detail: {
      bucket: { name: ['org-trail'] },
      object: { key: [{ wildcard: `AWSLogs/${ORG}/*/CloudTrail/eu-west-1/*` }, { wildcard: `AWSLogs/${ORG}/*/CloudTrail/us-east-1/*` }] },
    },
  });
  const targets = Object.values(onHub).map((r) => r.Properties.Targets);
  for (const t of targets) {
    assert.equal(t.length, 1);
    assert.deepEqual(t[0].RetryPolicy, { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 });
  }
  assert.equal(new Set(targets.map((t) => JSON.stringify([t[0].Arn, t[0].DeadLetterConfig]))).size, 1);
  // The guard reads the org trail's files and claims notifications in the dedup table.
  template.hasResourceProperties('AWS::IAM::Role', {
    Policies: [{ PolicyDocument: { Statement: Match.arrayWith([{
      Sid: 'ReadTrailLogFiles', Effect: 'Allow', Action: 's3:GetObject',
      Resource: partitionArn(`:s3:::org-trail/AWSLogs/${ORG}/*`),
    }]) }, PolicyName: 'invokeguard' }],
  });
  template.resourceCountIs('AWS::DynamoDB::Table', 1);
});

test('the guard names the member role and may assume it in accounts of the organization only', () => {
  const template = Template.fromStack(hubStack({ memberRoleName: 'guard-remediation' }));
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ [MEMBER_ROLE_ENV]: 'guard-remediation' }) },
  });
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] }),
    Policies: [{ PolicyDocument: { Statement: Match.arrayWith([{
      Sid: 'AssumeMemberRoles', Effect: 'Allow', Action: 'sts:AssumeRole',
      Resource: partitionArn(':iam::*:role/guard-remediation'),
      Condition: { StringEquals: { 'aws:ResourceOrgID': ORG } },
    }]) }, PolicyName: 'invokeguard' }],
  });
  Template.fromStack(hubStack()).hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ [MEMBER_ROLE_ENV]: 'invokeguard-member' }) },
  });
});

test('the hub guard knows its home account and its own role at init', () => {
  const stack = hubStack();
  const roleId = stack.getLogicalId(stack.guard.function.role!.node.defaultChild as CfnElement);
  Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({
      [HOME_ACCOUNT_ENV]: HUB_ENV.account,
      [ROLE_ARN_ENV]: { 'Fn::GetAtt': [roleId, 'Arn'] },
    }) },
  });
});

// ---- the hub guard's own role ----

const HUB_ACCOUNT_POLICIES = path.join(FIXTURES, 'org-invokers-hub-account.json');
const ORG_TRAIL = { bucketName: 'org-trail', account: '444444444444' };

/** The statements of the guard role's inline policy, by Sid. */
function guardRoleStatements(stack: InvokeguardHubStack | InvokeguardStack): Record<string, { Action: unknown; Resource: unknown }> {
  const roleId = stack.getLogicalId(stack.guard.function.role!.node.defaultChild as CfnElement);
  const role = Template.fromStack(stack).toJSON().Resources[roleId];
  assert.equal(role.Properties.Policies.length, 1);
  return Object.fromEntries(role.Properties.Policies[0].PolicyDocument.Statement.map((st: { Sid: string }) => [st.Sid, st]));
}

test('the hub guard\'s role has no Lambda grants on member accounts\' functions: it acts there through the member role', () => {
  const statements = guardRoleStatements(hubStack({ organizationTrail: ORG_TRAIL }));
  // The sweep queue's, on the hub's own queue only (sweep-fan-out.test.ts).
  assert.deepEqual(Object.keys(statements),
    ['WriteOwnLogs', 'Notify', 'ConsumeSweepQueue', 'PlanSweep', 'AssumeMemberRoles', 'ReadTrailLogFiles', 'ClaimNotifications']);
  assert.ok(!JSON.stringify(statements).includes('lambda:'));
});

test('the hub guard\'s role may manage the functions of the hub\'s own account (any region), and only those', () => {
  const stack = hubStack({ guard: { policiesFile: HUB_ACCOUNT_POLICIES, code: STUB_CODE, cli: STUB_CLI } });
  const statements = guardRoleStatements(stack);
  const audit = 'arn:aws:lambda:us-east-1:999999999999:function:Audit';
  assert.deepEqual(statements.ManageGuardedResourcePolicies.Resource, [audit, `${audit}:*`]);
  assert.deepEqual(statements.ManageGuardedResourcePolicies.Action, [...GUARD_LAMBDA_ACTIONS]);
  assert.ok((statements.ManageGuardedResourcePolicies.Action as string[]).includes('lambda:ListVersionsByFunction'));
  assert.ok(!JSON.stringify(statements).includes('111111111111'));
  // The member account's function is still guarded (rules on the hub bus), through its member role.
  assert.deepEqual(stack.guard.guardedFunctionArns, ['arn:aws:lambda:eu-west-1:111111111111:function:Orders', audit]);
  // The single-account stack still grants every guarded function.
  const single = guardRoleStatements(new InvokeguardStack(new App({ context: NO_BUNDLING }), 'S', {
    env: HUB_ENV, guard: { policiesFile: HUB_ACCOUNT_POLICIES, code: STUB_CODE, cli: STUB_CLI }, athena: false,
  }));
  const orders = 'arn:aws:lambda:eu-west-1:111111111111:function:Orders';
  assert.deepEqual(single.ManageGuardedResourcePolicies.Resource, [orders, `${orders}:*`, audit, `${audit}:*`]);
  assert.deepEqual(single.ManageGuardedResourcePolicies.Action, [...GUARD_LAMBDA_ACTIONS]);
});

test('an environment-agnostic hub cannot tell its own functions: it grants them all and warns', () => {
  const stack = hubStack({ env: undefined });
  const statements = guardRoleStatements(stack);
  assert.equal((statements.ManageGuardedResourcePolicies.Resource as string[]).length, 6);
  Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('account is not known at synth'));
  Annotations.fromStack(hubStack()).hasNoWarning('*', Match.stringLikeRegexp('account is not known at synth'));
});

test('the StackSet is service-managed, deploys to new accounts of the OUs and removes stacks of leaving accounts', () => {
  const stack = hubStack({ callAs: 'DELEGATED_ADMIN', memberRegions: ['eu-west-1', 'eu-central-1'] });
  const template = Template.fromStack(stack);
  const sets = Object.values(template.findResources('AWS::CloudFormation::StackSet'));
  assert.equal(sets.length, 1);
  const p = sets[0].Properties;
  assert.equal(p.PermissionModel, 'SERVICE_MANAGED');
  assert.deepEqual(p.AutoDeployment, { Enabled: true, RetainStacksOnAccountRemoval: false });
  assert.equal(p.CallAs, 'DELEGATED_ADMIN');
  assert.equal(p.StackSetName, 'Hub-members');
  assert.deepEqual(p.Capabilities, ['CAPABILITY_NAMED_IAM']);
  assert.deepEqual(p.StackInstancesGroup, [{ DeploymentTargets: { OrganizationalUnitIds: OUS }, Regions: ['eu-west-1', 'eu-central-1'] }]);
  const params = Object.fromEntries(p.Parameters.map((x: { ParameterKey: string; ParameterValue: unknown }) => [x.ParameterKey, x.ParameterValue]));
  const busId = stack.getLogicalId(stack.hubBus.node.defaultChild as CfnElement);
  const roleId = stack.getLogicalId(stack.guard.function.role!.node.defaultChild as CfnElement);
  assert.deepEqual(params, {
    HubEventBusArn: { 'Fn::GetAtt': [busId, 'Arn'] },
    HubGuardRoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
    MemberRoleRegion: 'eu-west-1',
  });
  // The member template is read from S3 (a file asset, like the guard's code), never inlined.
  assert.equal(p.TemplateBody, undefined);
  assert.deepEqual(p.TemplateURL, stack.resolve(stack.memberTemplateAssets[0].httpUrl));
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-hub-asset-'));
  const synthesized = hubStack({}, new App({ outdir, context: NO_BUNDLING }));
  (synthesized.node.root as App).synth();
  const uploaded = JSON.parse(fs.readFileSync(path.join(outdir, synthesized.memberTemplateAssets[0].assetPath), 'utf8'));
  assert.deepEqual(uploaded, synthesized.memberTemplates[0]);
  // ... and published with the hub's other assets.
  const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'Hub.assets.json'), 'utf8'));
  assert.ok(Object.values<{ source: { path: string } }>(manifest.files).some((f) => f.source.path === synthesized.memberTemplateAssets[0].assetPath));
  // Defaults: called as the management account, the hub's region.
  const defaults = Object.values(Template.fromStack(hubStack()).findResources('AWS::CloudFormation::StackSet'))[0].Properties;
  assert.equal(defaults.CallAs, 'SELF');
  assert.deepEqual(defaults.StackInstancesGroup[0].Regions, ['eu-west-1']);
});

test('hub props are validated', () => {
  assert.throws(() => hubStack({ organizationId: 'o-short' }), /organizationId "o-short" is not an organization id/);
  assert.throws(() => hubStack({ organizationId: 'r-a1b2c3d4e5' }), /not an organization id/);
  assert.throws(() => hubStack({ memberOrganizationalUnits: [] }), /lists no organizational unit/);
  assert.throws(() => hubStack({ memberOrganizationalUnits: ['ou-ab12-abcdefgh', 'r-ab12'] }), /"r-ab12" is not an organizational unit id/);
  assert.throws(() => hubStack({ callAs: 'ADMIN' as never }), /callAs must be SELF or DELEGATED_ADMIN/);
  assert.throws(() => hubStack({ memberRegions: ['mars'] }), /"mars" is not a region/);
  assert.throws(() => hubStack({ guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli: STUB_CLI, createTrail: true } }), /creates no trail/);
  // A hub whose functions are all its own (a name key, and an ARN of its account) has no member to guard.
  assert.throws(() => hubStack({ env: { account: '123456789012', region: 'eu-west-1' }, guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI } }),
    /every function of .*invokers\.json is in the hub's own account/);
});

// ---- the hub's own functions: name keys and ARN keys of the hub's account ----

/** Reports (name key) and Audit (ARN, hub account, eu-west-1) are the hub's; Orders and Blog (us-east-1) its members'. */
const HUB_NAMES_POLICIES = path.join(FIXTURES, 'org-invokers-hub-names.json');
const hubWithOwnFunctions = (props: Partial<InvokeguardHubStackProps> = {}) => hubStack({
  guard: { policiesFile: HUB_NAMES_POLICIES, code: STUB_CODE, cli: STUB_CLI }, memberRegions: ['us-east-1'], ...props,
});
const hubFn = (name: string, suffix = '') =>
  ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:lambda:eu-west-1:999999999999:function:${name}${suffix}`]] });
const AUDIT = 'arn:aws:lambda:eu-west-1:999999999999:function:Audit';
const lambdaRules = (template: Template) => Object.values(template.findResources('AWS::Events::Rule'))
  .filter((r) => r.Properties.EventPattern?.source?.[0] === 'aws.lambda');

test('the hub\'s own functions get Invoke and change rules on its default bus, like a single account\'s, to the guard', () => {
  const stack = hubWithOwnFunctions({ organizationTrail: ORG_TRAIL });
  const template = Template.fromStack(stack);
  const onDefault = lambdaRules(template).filter((r) => r.Properties.EventBusName === undefined);
  assert.equal(onDefault.length, 2);
  const invoke = onDefault.find((r) => r.Properties.EventPattern.detail.eventName[0] === 'Invoke')!.Properties.EventPattern;
  // Exactly the name key, resolved in the hub's account and region, and the ARN key of the hub's account.
  assert.deepEqual(invoke, {
    source: ['aws.lambda'],
    'detail-type': ['AWS API Call via CloudTrail'],
    detail: {
      eventSource: ['lambda.amazonaws.com'],
      eventName: ['Invoke', 'InvokeFunctionUrl'],
      errorCode: notRefused(),
      resources: { ARN: [hubFn('Reports'), { prefix: hubFn('Reports', ':') }, AUDIT, { prefix: `${AUDIT}:` }] },
    },
  });
  // The single-account stack's change pattern, unchanged.
  const single = Template.fromStack(new InvokeguardStack(new App({ context: NO_BUNDLING }), 'S', {
    env: HUB_ENV, guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI }, athena: false,
  }));
  const [singleChange] = lambdaRules(single).filter((r) => r.Properties.EventPattern.detail.eventCategory);
  const change = onDefault.find((r) => r.Properties.EventPattern.detail.eventCategory)!;
  assert.deepEqual(change.Properties.EventPattern, singleChange.Properties.EventPattern);
  // The hub bus's Invoke rule keeps the members' functions only.
  const busRef = { Ref: stack.getLogicalId(stack.hubBus.node.defaultChild as CfnElement) };
  const onHub = lambdaRules(template).filter((r) => JSON.stringify(r.Properties.EventBusName) === JSON.stringify(busRef));
  assert.equal(onHub.length, 2);
  // It matches the member accounts: their forwarding rules already pick the functions.
  const hubInvoke = onHub.find((r) => r.Properties.EventPattern.detail.eventName[0] === 'Invoke')!.Properties.EventPattern;
  assert.deepEqual(hubInvoke, {
    source: ['aws.lambda'],
    'detail-type': ['AWS API Call via CloudTrail'],
    account: ['111111111111', '222222222222'],
    detail: { eventSource: ['lambda.amazonaws.com'], eventName: ['Invoke', 'InvokeFunctionUrl'], errorCode: notRefused() },
  });
  // Every rule delivers to the guard alike: one target, the same function, dead-letter queue and retries.
  const targets = [...onDefault, ...onHub].map((r) => r.Properties.Targets);
  for (const t of targets) {
    assert.equal(t.length, 1);
    assert.deepEqual(t[0].RetryPolicy, { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 });
  }
  assert.equal(new Set(targets.map((t) => JSON.stringify([t[0].Arn, t[0].DeadLetterConfig]))).size, 1);
  const guardId = stack.getLogicalId(stack.guard.function.node.defaultChild as CfnElement);
  assert.deepEqual(targets[0][0].Arn, { 'Fn::GetAtt': [guardId, 'Arn'] });
  // A hub without functions of its own has no rules on the default bus.
  assert.equal(lambdaRules(Template.fromStack(hubStack())).filter((r) => r.Properties.EventBusName === undefined).length, 0);
});

test('the member template leaves the hub\'s own functions out', () => {
  const stack = hubWithOwnFunctions({ organizationTrail: ORG_TRAIL });
  const body = JSON.stringify(stack.memberTemplates[0]);
  for (const own of ['Reports', 'Audit', '999999999999']) {
    assert.ok(!body.includes(own), `the member template mentions ${own}`);
  }
  const conditions = Object.keys(stack.memberTemplates[0].Conditions as Record<string, unknown>);
  assert.deepEqual(conditions.filter((c) => c.startsWith('IsMember') && c !== 'IsMemberRoleRegion'), ['IsMember111111111111', 'IsMember222222222222']);
});

test('Athena and the trail-file backstop cover the hub\'s own account and the regions of its functions', () => {
  const params = (stack: InvokeguardHubStack) =>
    Object.values(Template.fromStack(stack).findResources('AWS::Glue::Table'))[0].Properties.TableInput.Parameters;
  const backstopKeys = (stack: InvokeguardHubStack) => Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))
    .find((r) => r.Properties.EventPattern?.source?.[0] === 'aws.s3')!.Properties.EventPattern.detail.object.key;
  // The hub's region is not a member region: Athena adds it, the backstop reads only the hub account's files there.
  const stack = hubWithOwnFunctions({ organizationTrail: ORG_TRAIL });
  assert.equal(params(stack)['projection.account.values'], '111111111111,222222222222,999999999999');
  assert.equal(params(stack)['projection.region.values'], 'us-east-1,eu-west-1');
  assert.deepEqual(backstopKeys(stack), [
    { wildcard: `AWSLogs/${ORG}/*/CloudTrail/us-east-1/*` }, { wildcard: `AWSLogs/${ORG}/999999999999/CloudTrail/eu-west-1/*` },
  ]);
  // A member region already: listed once.
  const both = hubWithOwnFunctions({ organizationTrail: ORG_TRAIL, memberRegions: ['eu-west-1', 'us-east-1'] });
  assert.equal(params(both)['projection.region.values'], 'eu-west-1,us-east-1');
  assert.equal(backstopKeys(both).length, 2);
  // An ARN of the hub's account in another region: that region is covered too, and the guard warns that only the sweep
  // and the backstop see it (the default-bus rules are in the hub's region).
  const elsewhere = hubStack({ guard: { policiesFile: HUB_ACCOUNT_POLICIES, code: STUB_CODE, cli: STUB_CLI }, organizationTrail: ORG_TRAIL });
  assert.equal(params(elsewhere)['projection.account.values'], '111111111111,999999999999');
  assert.equal(params(elsewhere)['projection.region.values'], 'eu-west-1,us-east-1');
  assert.deepEqual(backstopKeys(elsewhere)[1], { wildcard: `AWSLogs/${ORG}/999999999999/CloudTrail/us-east-1/*` });
  Annotations.fromStack(elsewhere).hasWarning('*', Match.stringLikeRegexp('function:Audit is in this stack\'s account but not its region'));
  Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('not its region'));
});

test('a name key needs the hub\'s account at synth: unknown, synth fails and says so', () => {
  const unknownAccount = /guards functions of the hub's own account \(Reports; a name key means the hub's account and region\), but the hub stack's account or region is not known at synth/;
  assert.throws(() => hubWithOwnFunctions({ env: undefined }), unknownAccount);
  assert.throws(() => hubWithOwnFunctions({ env: { region: 'eu-west-1' } }), unknownAccount);
  // ARN keys only: the environment-agnostic hub cannot tell its own, so it keeps them all in the member template.
  assert.doesNotThrow(() => hubStack({ env: undefined }));
});

// ---- Athena over the organization trail ----

test('with organizationTrail, Athena reads the guarded accounts\' log files of the member regions in the organization bucket', () => {
  const template = Template.fromStack(hubStack({ organizationTrail: ORG_TRAIL, memberRegions: ['eu-west-1', 'us-east-1'] }));
  template.resourceCountIs('AWS::Glue::Crawler', 0);
  template.hasResourceProperties('AWS::Glue::Database', { CatalogId: '999999999999', DatabaseInput: { Name: 'invokeguard' } });
  const tables = Object.values(template.findResources('AWS::Glue::Table'));
  assert.equal(tables.length, 1);
  const table = tables[0].Properties;
  assert.equal(table.CatalogId, '999999999999');
  assert.equal(table.TableInput.Name, 'cloudtrail_logs');
  // The accounts with guarded functions in org-invokers.json; the hub's and the bucket's accounts are not among them.
  assert.deepEqual(table.TableInput.Parameters, {
    'EXTERNAL': 'TRUE',
    'classification': 'cloudtrail',
    'projection.enabled': 'true',
    'projection.account.type': 'enum',
    'projection.account.values': '111111111111,222222222222',
    'projection.region.type': 'enum',
    'projection.region.values': 'eu-west-1,us-east-1',
    'projection.timestamp.type': 'date',
    'projection.timestamp.format': 'yyyy/MM/dd',
    'projection.timestamp.range': '2026/01/01,NOW',
    'projection.timestamp.interval': '1',
    'projection.timestamp.interval.unit': 'DAYS',
    'storage.location.template': `s3://org-trail/AWSLogs/${ORG}/\${account}/CloudTrail/\${region}/\${timestamp}`,
  });
  assert.deepEqual(table.TableInput.PartitionKeys,
    [{ Name: 'account', Type: 'string' }, { Name: 'region', Type: 'string' }, { Name: 'timestamp', Type: 'string' }]);
  assert.equal(table.TableInput.StorageDescriptor.Location, `s3://org-trail/AWSLogs/${ORG}`);
  assert.deepEqual(table.TableInput.StorageDescriptor.Columns, CLOUDTRAIL_COLUMNS.map((c) => ({ Name: c.name, Type: c.type })));
  // Results in a bucket of the hub's own account, as in the single-account stack.
  template.hasResourceProperties('AWS::Athena::WorkGroup', {
    Name: 'invokeguard',
    WorkGroupConfiguration: Match.objectLike({
      EnforceWorkGroupConfiguration: true,
      ResultConfiguration: Match.objectLike({ ExpectedBucketOwner: '999999999999', EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } }),
    }),
  });
});

test('the hub\'s saved queries are generated from its policies file, names meaning the hub\'s account and region', () => {
  const template = Template.fromStack(hubStack({ organizationTrail: ORG_TRAIL }));
  template.resourceCountIs('AWS::Athena::NamedQuery', SAVED_QUERIES.length);
  for (const q of SAVED_QUERIES) {
    template.hasResourceProperties('AWS::Athena::NamedQuery', {
      Name: `invokeguard/${q.name}`,
      Database: 'invokeguard',
      WorkGroup: { Ref: Match.stringLikeRegexp('TrailAthenaWorkGroup') },
      QueryString: `SELECT 1 -- stand-in: --policies ${ORG_POLICIES} --query ${q.query} --database invokeguard --table cloudtrail_logs `
        + '--account 999999999999 --region eu-west-1',
    });
  }
});

test('no Athena without organizationTrail, or with athena: false', () => {
  for (const stack of [hubStack(), hubStack({ organizationTrail: ORG_TRAIL, athena: false })]) {
    assert.equal(stack.athena, undefined);
    const template = Template.fromStack(stack);
    for (const type of ['AWS::Glue::Database', 'AWS::Glue::Table', 'AWS::Athena::WorkGroup', 'AWS::Athena::NamedQuery']) {
      template.resourceCountIs(type, 0);
    }
  }
});

// The real Rust CLI; scripts/cdk-test.sh builds it first and sets this variable.
const rustCli = process.env.INVOKEGUARD_TEST_RUST_VALIDATOR === '1';
test('with the real CLI, the hub\'s queries match each guarded function by its full ARN, account included', { skip: !rustCli && 'set INVOKEGUARD_TEST_RUST_VALIDATOR=1' }, () => {
  const template = Template.fromStack(hubStack({
    organizationTrail: ORG_TRAIL, athena: {}, guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli: RUST_CLI },
  }));
  const sql = Object.fromEntries(Object.values(template.findResources('AWS::Athena::NamedQuery'))
    .map((r) => [r.Properties.Name, r.Properties.QueryString as string]));
  for (const name of ['invokeguard/invocations-outside-allowlist', 'invokeguard/resource-policy-changes']) {
    for (const arn of ['arn:aws:lambda:eu-west-1:111111111111:function:Orders', 'arn:aws:lambda:eu-west-1:222222222222:function:Blog']) {
      assert.ok(sql[name].includes(`WHEN function_arn = '${arn}' THEN '${arn}'`), `${name} matches ${arn}`);
    }
    // Names would mean a function of each record's own account; the hub file has none, so nothing matches by name.
    assert.doesNotMatch(sql[name], /split_part\(function_arn, ':', 7\) =/);
  }
  // A caller of the function's own account is `iam`, of any other `account`: judged per function, not per table.
  assert.match(sql['invokeguard/invocations-outside-allowlist'], /WHEN caller_account <> split_part\(function_arn, ':', 5\) THEN 'account'/);
});

// ---- the organization trail bucket's policy ----

/** A CloudFormation string value as the deployed stack prints it, Ref and GetAtt taken from `values`. */
function deployedString(value: unknown, values: Record<string, string>): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => deployedString(p, values)).join(sep);
  }
  const ref = v.Ref ?? (v['Fn::GetAtt'] as string[] | undefined)?.join('.');
  assert.ok(typeof ref === 'string' && ref in values, `no value for ${JSON.stringify(value)}`);
  return values[ref];
}

test('the hub outputs the statement the organization trail bucket\'s policy needs for the guard to read the log files', () => {
  const stack = hubStack({ organizationTrail: ORG_TRAIL });
  const roleId = stack.getLogicalId(stack.guard.function.role!.node.defaultChild as CfnElement);
  const outputs = Template.fromStack(stack).findOutputs('OrgTrailBucketPolicyStatement');
  assert.equal(Object.keys(outputs).length, 1);
  const roleArn = 'arn:aws:iam::999999999999:role/Hub-InvokeGuardRole';
  const statement = JSON.parse(deployedString(outputs.OrgTrailBucketPolicyStatement.Value, { 'AWS::Partition': 'aws', [`${roleId}.Arn`]: roleArn }));
  assert.deepEqual(statement, {
    Sid: 'InvokeguardHubReadsTrailLogFiles',
    Effect: 'Allow',
    Principal: { AWS: roleArn },
    Action: 's3:GetObject',
    Resource: `arn:aws:s3:::org-trail/AWSLogs/${ORG}/*`,
  });
  // The same objects the guard's own policy allows it to read.
  const read = guardRoleStatements(stack).ReadTrailLogFiles.Resource;
  assert.equal(deployedString(read, { 'AWS::Partition': 'aws' }), statement.Resource);
  assert.deepEqual(Template.fromStack(hubStack()).findOutputs('*'), {});
});

/** Reasons of the accepted cdk-nag findings in `stack`, by finding id. */
function acknowledgements(stack: Stack): Record<string, string> {
  return Object.fromEntries(stack.node.findAll().flatMap((c) => c.node.metadata)
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => Object.entries(m.data as Record<string, string>))
    .map(([key, reason]) => [key.replace(/^Annotation::/, ''), reason]));
}

test('the log files acknowledgement says whose files the guard reads: the organization\'s in a hub, its own otherwise', () => {
  const hub = acknowledgements(hubStack({ organizationTrail: ORG_TRAIL }));
  const orgReason = hub[`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::org-trail/AWSLogs/${ORG}/*]`];
  assert.match(orgReason, new RegExp(`organization trail's log files \\(AWSLogs/${ORG}/\\*\\), of every account of the organization`));
  assert.doesNotMatch(orgReason, /this account and region/);
  const single = acknowledgements(new InvokeguardStack(new App({ context: NO_BUNDLING }), 'S', {
    env: HUB_ENV, guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI }, athena: false,
  }));
  const [ownKey] = Object.keys(single).filter((k) => k.includes('/AWSLogs/999999999999/CloudTrail/eu-west-1/*'));
  assert.match(single[ownKey], /^The guard reads the trail log files of this account and region only/);
});

// ---- the member template ----

function memberTemplate(): Template {
  const stack = hubStack();
  return Template.fromJSON(stack.memberTemplates[0]);
}

test('the member template forwards Invoke and change events of each account\'s guarded functions to the hub bus', () => {
  const template = memberTemplate();
  const rules = template.findResources('AWS::Events::Rule');
  for (const rule of Object.values(rules)) {
    assert.equal(rule.Properties.EventBusName, undefined); // the member's default bus
    assert.deepEqual(rule.Properties.Targets, [{ Arn: { Ref: 'HubEventBusArn' }, Id: 'Target0', RoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } }].map(
      (t) => ({ ...t, RoleArn: rule.Properties.Targets[0].RoleArn })));
  }
  const invoke = (account: string) => Object.values(rules).find((r) => r.Condition === `IsMember${account}`)!.Properties.EventPattern;
  assert.deepEqual(invoke('222222222222').detail, {
    eventSource: ['lambda.amazonaws.com'],
    eventName: ['Invoke', 'InvokeFunctionUrl'],
    // Refused calls are dropped in the member account already.
    errorCode: [{ exists: false }, { 'anything-but': [...ACCESS_DENIED_ERROR_CODES] }],
    resources: { ARN: ['arn:aws:lambda:eu-west-1:222222222222:function:Blog', { prefix: 'arn:aws:lambda:eu-west-1:222222222222:function:Blog:' }] },
  });
  assert.equal(Object.values(rules).find((r) => r.Condition === 'GuardsFunctions')!.Properties.EventPattern.detail.eventCategory[0], 'Management');
  // EventBridge's role may put events on the hub bus only.
  // Without a trail bucket, the accounts that guard functions are the ones that forward.
  const forward = Object.values(template.findResources('AWS::IAM::Role', { Condition: 'GuardsFunctions' }));
  assert.equal(forward.length, 1);
  assert.deepEqual(forward[0].Properties.AssumeRolePolicyDocument.Statement, [{
    Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' },
    Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
  }]);
  assert.deepEqual(forward[0].Properties.Policies, [{ PolicyName: 'invokeguard', PolicyDocument: { Version: '2012-10-17', Statement: [{
    Sid: 'ForwardToHubBus', Effect: 'Allow', Action: 'events:PutEvents', Resource: { Ref: 'HubEventBusArn' },
  }] } }]);
});

test('the member role trusts only the hub guard\'s role and may only manage its account\'s guarded functions\' policies', () => {
  const template = memberTemplate();
  const roles = template.findResources('AWS::IAM::Role', { Properties: { RoleName: 'invokeguard-member' } });
  assert.deepEqual(Object.values(roles).map((r) => r.Condition).sort(), ['CreatesMemberRole111111111111', 'CreatesMemberRole222222222222']);
  const role = Object.values(roles).find((r) => r.Condition === 'CreatesMemberRole111111111111')!;
  assert.deepEqual(role.Properties.AssumeRolePolicyDocument, {
    Version: '2012-10-17',
    Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: { Ref: 'HubGuardRoleArn' } } }],
  });
  assert.deepEqual(role.Properties.Policies, [{ PolicyName: 'invokeguard', PolicyDocument: { Version: '2012-10-17', Statement: [{
    Sid: 'ManageGuardedResourcePolicies',
    Effect: 'Allow',
    Action: [
      'lambda:GetPolicy', 'lambda:AddPermission', 'lambda:RemovePermission',
      'lambda:PutResourcePolicy', 'lambda:DeleteResourcePolicy', 'lambda:ListAliases', 'lambda:ListVersionsByFunction',
    ],
    // Exactly the policies file's ARNs (partition, region and account included), and their aliases and versions.
    Resource: [
      ORDERS_ARN, `${ORDERS_ARN}:*`, BILLING_MEMBER_ARN, `${BILLING_MEMBER_ARN}:*`,
    ],
  }] } }]);
  assert.deepEqual([...MEMBER_ROLE_ACTIONS], role.Properties.Policies[0].PolicyDocument.Statement[0].Action);
  assert.equal(role.Properties.ManagedPolicyArns, undefined);
  // One role per account, in one region only (IAM is global).
  assert.deepEqual(template.toJSON().Conditions.CreatesMemberRole111111111111, {
    'Fn::And': [{ Condition: 'IsMember111111111111' }, { Condition: 'IsMemberRoleRegion' }],
  });
  assert.deepEqual(template.toJSON().Conditions.IsMember111111111111, { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '111111111111'] });
  assert.deepEqual(template.toJSON().Conditions.IsMemberRoleRegion, { 'Fn::Equals': [{ Ref: 'AWS::Region' }, { Ref: 'MemberRoleRegion' }] });
  // Nothing CDK-specific that a StackSet instance could not deploy.
  const json = template.toJSON();
  assert.equal(json.Parameters.BootstrapVersion, undefined);
  assert.equal(json.Rules, undefined);
  assert.equal(json.Resources.CDKMetadata, undefined);
});

test('a member role name from the hub props', () => {
  const template = Template.fromJSON(hubStack({ memberRoleName: 'guard-remediation' }).memberTemplates[0]);
  template.resourcePropertiesCountIs('AWS::IAM::Role', { RoleName: 'guard-remediation' }, 2);
});

test('the trail bucket\'s account forwards new log files of the organization', () => {
  const template = Template.fromJSON(hubStack({ organizationTrail: { bucketName: 'org-trail', account: '444444444444' } }).memberTemplates[0]);
  const [rule] = Object.values(template.findResources('AWS::Events::Rule', { Condition: 'IsTrailBucketAccount' }));
  assert.deepEqual(rule.Properties.EventPattern, {
    source: ['aws.s3'], 'detail-type': ['Object Created'],
    detail: { bucket: { name: ['org-trail'] }, object: { key: [{ prefix: `AWSLogs/${ORG}/` }] } },
  });
  assert.deepEqual(template.toJSON().Conditions.ForwardsEvents, { 'Fn::Or': [{ Condition: 'GuardsFunctions' }, { Condition: 'IsTrailBucketAccount' }] });
});

test('functionsByAccount groups full-ARN keys by account and many accounts nest Fn::Or', () => {
  assert.deepEqual(functionsByAccount(['arn:aws:lambda:eu-west-1:111111111111:function:A', 'arn:aws:lambda:us-east-1:111111111111:function:B',
    'arn:aws:lambda:eu-west-1:222222222222:function:C']), {
    111111111111: ['arn:aws:lambda:eu-west-1:111111111111:function:A', 'arn:aws:lambda:us-east-1:111111111111:function:B'],
    222222222222: ['arn:aws:lambda:eu-west-1:222222222222:function:C'],
  });
  assert.throws(() => functionsByAccount(['Orders']), /not: Orders/);
  assert.throws(() => functionsByAccount(['arn:aws:lambda:eu-west-1:111111111111:function:A:prod']), /not: arn/);
  const guarded = Object.fromEntries(Array.from({ length: 23 }, (_, i) => {
    const account = String(100000000000 + i);
    return [account, [`arn:aws:lambda:eu-west-1:${account}:function:F`]];
  }));
  const stack = new InvokeguardMemberStack(new App(), 'M', { guardedFunctions: guarded });
  const conditions = Template.fromStack(stack).toJSON().Conditions;
  const or = conditions.GuardsFunctions['Fn::Or'];
  assert.equal(or.length, 3);
  for (const c of Object.values<Record<string, unknown[]>>(conditions)) {
    const args = c['Fn::Or'];
    assert.ok(!args || (args.length >= 2 && args.length <= 10));
  }
});

/** A policies file guarding `functions` functions in each of `accounts` member accounts, in a temporary folder. */
function orgPolicies(accounts: number, functions: number): string {
  const entries: Record<string, unknown> = {};
  for (let a = 0; a < accounts; a++) {
    for (let f = 0; f < functions; f++) {
      entries[`arn:aws:lambda:eu-west-1:${String(210000000000 + a)}:function:service-${a}-handler-${f}`] = { allow: [] };
    }
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ig-org-')), 'org-invokers.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, functions: entries }));
  return file;
}

test('20 member accounts of 50 functions: each account forwards all its functions through rules within the pattern limit', () => {
  const stack = hubStack({ guard: { policiesFile: orgPolicies(20, 50), code: STUB_CODE, cli: STUB_CLI } });
  const template = stack.memberTemplates[0] as { Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, any> }> };
  assert.ok(Buffer.byteLength(JSON.stringify(template)) <= TEMPLATE_URL_LIMIT);
  assert.ok(Object.keys(template.Resources).length <= TEMPLATE_RESOURCE_LIMIT);
  const rules = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule' && r.Condition?.startsWith('IsMember'));
  for (let a = 0; a < 20; a++) {
    const account = String(210000000000 + a);
    const mine = rules.filter((r) => r.Condition === `IsMember${account}`);
    assert.ok(mine.length > 1, `${account}: ${mine.length} rule(s)`);
    for (const rule of mine) {
      assert.ok(JSON.stringify(rule.Properties.EventPattern).length <= EVENT_PATTERN_LIMIT);
    }
    const arns = mine.flatMap((r) => r.Properties.EventPattern.detail.resources.ARN).filter((v: unknown) => typeof v === 'string');
    assert.deepEqual(arns, Array.from({ length: 50 }, (_, f) => `arn:aws:lambda:eu-west-1:${account}:function:service-${a}-handler-${f}`));
  }
  // On the hub bus, one Invoke rule for all twenty accounts.
  const busRef = JSON.stringify({ Ref: stack.getLogicalId(stack.hubBus.node.defaultChild as CfnElement) });
  const onHub = Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))
    .filter((r) => JSON.stringify(r.Properties.EventBusName) === busRef && r.Properties.EventPattern.account);
  assert.equal(onHub.length, 1);
  assert.equal(onHub[0].Properties.EventPattern.account.length, 20);
});

test('an organization too large for one member template is spread over StackSets, each account in exactly one', () => {
  const stack = hubStack({ guard: { policiesFile: orgPolicies(60, 100), code: STUB_CODE, cli: STUB_CLI } });
  assert.ok(stack.stackSets.length > 1, `${stack.stackSets.length} StackSet(s)`);
  const sets = Object.values(Template.fromStack(stack).findResources('AWS::CloudFormation::StackSet')).map((r) => r.Properties);
  assert.deepEqual(sets.map((p) => p.StackSetName), sets.map((_, i) => (i === 0 ? 'Hub-members' : `Hub-members-${i + 1}`)));
  const seen: string[] = [];
  stack.memberTemplates.forEach((template, i) => {
    assert.ok(Buffer.byteLength(JSON.stringify(template)) <= TEMPLATE_URL_LIMIT);
    assert.ok(Object.keys(template.Resources as object).length <= TEMPLATE_RESOURCE_LIMIT);
    assert.ok(Object.keys(template.Conditions as object).length <= 200);
    // Every StackSet deploys its own template to the same OUs, in the same regions.
    assert.deepEqual(sets[i].StackInstancesGroup, [{ DeploymentTargets: { OrganizationalUnitIds: OUS }, Regions: ['eu-west-1'] }]);
    assert.deepEqual(sets[i].TemplateURL, stack.resolve(stack.memberTemplateAssets[i].httpUrl));
    const roles = Object.values(template.Resources as Record<string, { Type: string; Condition: string }>).filter((r) => r.Type === 'AWS::IAM::Role' && r.Condition.startsWith('CreatesMemberRole'));
    seen.push(...roles.map((r) => r.Condition.replace('CreatesMemberRole', '')));
  });
  assert.deepEqual(seen, Array.from({ length: 60 }, (_, a) => String(210000000000 + a)));
});

test('one account with more functions than a template holds is refused at synth, saying which limit', () => {
  assert.throws(() => hubStack({ guard: { policiesFile: orgPolicies(1, 4000), code: STUB_CODE, cli: STUB_CLI } }),
    /the member template has \d+ bytes \(CloudFormation takes 1000000 from S3\): .*Split it across hubs/s);
});

// ---- cdk-nag and cfn-lint on both stacks ----

test('AwsSolutionsChecks finds nothing unacknowledged in the hub and the member stack', () => {
  const checks = (scope: Parameters<AwsSolutionsChecks['validateScope']>[0]) =>
    new AwsSolutionsChecks().validateScope(scope).violations.map((v) => `${v.ruleName} ${JSON.stringify(v.violatingResources.map((r) => r.locations))}`);
  const hub = hubStack({ organizationTrail: { bucketName: 'org-trail', account: '444444444444', encryptionKeyArn: 'arn:aws:kms:eu-west-1:444444444444:key/1234abcd-12ab-34cd-56ef-1234567890ab' } });
  assert.ok(hub.athena && hub.trailFileBackstop, 'the checked hub has Athena and the backstop');
  assert.deepEqual(checks(hub), []);
  assert.deepEqual(checks(hubStack()), []);
  assert.deepEqual(checks(hubWithOwnFunctions({ organizationTrail: ORG_TRAIL })), []);
  const member = new InvokeguardMemberStack(new App(), 'Member', {
    guardedFunctions: functionsByAccount(['arn:aws:lambda:eu-west-1:111111111111:function:Orders']),
    trailBucket: { bucketName: 'org-trail', account: '444444444444', logFilePrefix: `AWSLogs/${ORG}/` },
  });
  assert.deepEqual(checks(member), []);
  // With the plugin as bin/app.ts registers it.
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-hub-nag-'));
  const app = new App({ outdir, context: NO_BUNDLING });
  hubStack({}, app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  assert.deepEqual(report.pluginReports.filter((r: { conclusion: string }) => r.conclusion !== 'success'), []);
});

// The cfn-lint scripts/cdk-test.sh runs on cdk.out (scripts/bootstrap.sh installs it into .venv), else any on PATH.
const venvLint = path.join(REPO_ROOT, '.venv', 'bin', 'cfn-lint');
const cfnLintBin = fs.existsSync(venvLint) ? venvLint : 'cfn-lint';
const cfnLint = spawnSync(cfnLintBin, ['--version'], { encoding: 'utf8' });
const lintRequired = process.env.INVOKEGUARD_TEST_RUST_VALIDATOR === '1' || process.env.CI === 'true';
test('cfn-lint passes on the hub and the member template', { skip: !lintRequired && cfnLint.status !== 0 ? 'cfn-lint not on PATH' : false }, () => {
  assert.equal(cfnLint.status, 0, 'cfn-lint must be on PATH (scripts/bootstrap.sh installs it into .venv)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-hub-lint-'));
  const hub = hubStack({ organizationTrail: { bucketName: 'org-trail', account: '444444444444' }, memberRegions: ['eu-west-1', 'us-east-1'] });
  // With functions of its own: the default-bus rules, and the hub's region added to Athena and the backstop.
  const withOwn = hubWithOwnFunctions({ organizationTrail: ORG_TRAIL });
  const files = {
    'hub.template.json': Template.fromStack(hub).toJSON(),
    'member.template.json': hub.memberTemplates[0],
    'hub-own-functions.template.json': Template.fromStack(withOwn).toJSON(),
    'member-own-functions.template.json': withOwn.memberTemplates[0],
  };
  for (const [name, body] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), JSON.stringify(body, null, 1));
  }
  const lint = spawnSync(cfnLintBin, Object.keys(files).map((f) => path.join(dir, f)), { encoding: 'utf8' });
  assert.equal(lint.status, 0, `cfn-lint:\n${lint.stdout}${lint.stderr}`);
});

// ---- bin/app.ts context ----

function appWith(context: Record<string, string>) {
  const app = new App({ context: { ...NO_BUNDLING, ...context } });
  return addStackFromContext(app, { repoRoot: REPO_ROOT, code: STUB_CODE, cli: STUB_CLI });
}

test('-c hub=true selects the hub stack; without it, the single-account stack as before', () => {
  const single = appWith({ policiesFile: POLICIES });
  assert.ok(single instanceof InvokeguardStack);
  assert.equal(single.stackName, 'Invokeguard');
  const hub = appWith({ hub: 'true', policiesFile: ORG_POLICIES, organizationId: ORG, memberOrganizationalUnits: OUS.join(','), memberRegions: 'eu-west-1, us-east-1', callAs: 'DELEGATED_ADMIN' });
  assert.ok(hub instanceof InvokeguardHubStack);
  assert.equal(hub.stackName, 'InvokeguardHub');
  const set = Object.values(Template.fromStack(hub).findResources('AWS::CloudFormation::StackSet'))[0].Properties;
  assert.deepEqual(set.StackInstancesGroup, [{ DeploymentTargets: { OrganizationalUnitIds: OUS }, Regions: ['eu-west-1', 'us-east-1'] }]);
  assert.equal(set.CallAs, 'DELEGATED_ADMIN');
  assert.ok(appWith({ hub: 'false', policiesFile: POLICIES }) instanceof InvokeguardStack);
});

test('conflicting or missing context is rejected with a clear error', () => {
  const hub = { hub: 'true', policiesFile: ORG_POLICIES };
  assert.throws(() => appWith({ ...hub }), /organizationId=o-.*\n.*memberOrganizationalUnits=ou-/s);
  assert.throws(() => appWith({ ...hub, organizationId: ORG }), /needs -c memberOrganizationalUnits/);
  assert.throws(() => appWith({ ...hub, memberOrganizationalUnits: OUS[0] }), /needs -c organizationId/);
  assert.throws(() => appWith({ ...hub, organizationId: ORG, memberOrganizationalUnits: OUS[0], createTrail: 'true' }), /createTrail does not apply to a hub/);
  assert.throws(() => appWith({ ...hub, organizationId: ORG, memberOrganizationalUnits: OUS[0], orgTrailBucket: 'b' }), /orgTrailBucket and orgTrailBucketAccount go together/);
  assert.throws(() => appWith({ ...hub, organizationId: 'o-bad', memberOrganizationalUnits: OUS[0] }), /"o-bad" is not an organization id/);
  assert.throws(() => appWith({ hub: 'yes' }), /hub must be true or false, got "yes"/);
  assert.throws(() => appWith({ policiesFile: POLICIES, organizationId: ORG }), /context organizationId only applies to a hub; add -c hub=true/);
  assert.throws(() => appWith({ policiesFile: POLICIES, memberOrganizationalUnits: OUS[0], callAs: 'SELF' }), /memberOrganizationalUnits, callAs only applies to a hub/);
});

test('-c securityHub=true turns findings on for the app\'s guard; any value but true or false stops synth', () => {
  const securityHubGrant = (stack: Stack) => JSON.stringify(Template.fromStack(stack).toJSON()).includes('securityhub:BatchImportFindings');
  assert.equal(securityHubGrant(appWith({ policiesFile: POLICIES })), false);
  assert.equal(securityHubGrant(appWith({ policiesFile: POLICIES, securityHub: 'true' })), true);
  assert.equal(securityHubGrant(appWith({ hub: 'true', policiesFile: ORG_POLICIES, organizationId: ORG, memberOrganizationalUnits: OUS.join(','), securityHub: 'true' })), true);
  assert.throws(() => appWith({ policiesFile: POLICIES, securityHub: 'yes' }), /context securityHub must be true or false, got "yes"/);
});

// ---- the grants service control policy (opt-in) ----

test('without serviceControlPolicy the hub attaches no service control policy', () => {
  Template.fromStack(hubStack()).resourceCountIs('AWS::Organizations::Policy', 0);
});

test('serviceControlPolicy checks its props: maxPolicies 1 to 5, targets that are roots, OUs or accounts', () => {
  assert.throws(() => hubStack({ serviceControlPolicy: { maxPolicies: 6 } }), /serviceControlPolicy.maxPolicies must be 1 to 5, got 6/);
  assert.throws(() => hubStack({ serviceControlPolicy: { targetIds: ['o-a1b2c3d4e5'] } }), /"o-a1b2c3d4e5" is not a root, OU or account id/);
});

test('a function the generated policy cannot hold stops synth, naming it (never a silently partial policy)', () => {
  const report = JSON.stringify({ policies: [], leftOut: [{ function: 'arn:aws:lambda:eu-west-1:111111111111:function:Orders', reason: 'does not fit' }], warnings: [], notes: [], limit: 5120 });
  const cli = InvokeguardCli.fromCommands({ validate: ['true'], guardrails: [process.execPath, '-e', `process.stdout.write(${JSON.stringify(report)}); process.exit(1)`, '--'] });
  assert.throws(() => hubStack({ guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli }, serviceControlPolicy: {} }),
    /cannot hold arn:aws:lambda:eu-west-1:111111111111:function:Orders \(does not fit\)/);
});

test('with the real CLI, serviceControlPolicy attaches the guardrails SCP to the member OUs, the member role exempt; cfn-lint passes', { skip: !rustCli && 'set INVOKEGUARD_TEST_RUST_VALIDATOR=1' }, () => {
  const stack = hubStack({
    guard: { policiesFile: ORG_POLICIES, code: STUB_CODE, cli: RUST_CLI },
    serviceControlPolicy: { exemptRoleArns: ['arn:aws:iam::999999999999:role/deployer'] },
  });
  const template = Template.fromStack(stack);
  const policies = Object.values(template.findResources('AWS::Organizations::Policy'));
  assert.equal(policies.length, 1);
  const p = policies[0].Properties;
  assert.equal(p.Type, 'SERVICE_CONTROL_POLICY');
  assert.deepEqual(p.TargetIds, OUS);
  assert.ok(JSON.stringify(p.Content).length <= 5120);
  const statements = p.Content.Statement as { Effect: string; Action: string | string[]; Resource: string[]; Condition: Record<string, Record<string, unknown>> }[];
  assert.ok(statements.every((s) => s.Effect === 'Deny'));
  for (const s of statements) {
    assert.deepEqual(s.Condition.ArnNotLike['aws:PrincipalArn'], ['arn:*:iam::*:role/invokeguard-member', 'arn:aws:iam::999999999999:role/deployer']);
  }
  // The allowlist's principal for Orders, and every qualifier of it.
  const orders = statements.find((s) => s.Action === 'lambda:AddPermission' && s.Resource.includes(ORDERS_ARN));
  assert.deepEqual(orders?.Resource, [ORDERS_ARN, `${ORDERS_ARN}:*`]);
  assert.ok(statements.some((s) => s.Action === 'lambda:PutResourcePolicy'));
  // cfn-lint from .venv/bin (scripts/bootstrap.sh installs it; scripts/cdk-test.sh puts it on PATH).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-scp-'));
  const file = path.join(dir, 'hub.template.json');
  fs.writeFileSync(file, JSON.stringify(template.toJSON()));
  const lint = spawnSync('cfn-lint', [file], { encoding: 'utf8' });
  assert.equal(lint.status, 0, `cfn-lint on the hub template with the SCP (${lint.error?.message ?? 'ran'}):\n${lint.stdout}${lint.stderr}`);
});
