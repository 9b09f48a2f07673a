import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App, CfnElement, Duration } from 'aws-cdk-lib';
import { Annotations, Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { InvokeguardStack } from '../lib/invokeguard-stack';
import { BILLING_ARN, guardStack, guardTemplate, nameArn, NO_BUNDLING, POLICIES, STUB_CLI, STUB_CODE } from './helpers';

test('guard is an arm64 provided.al2023 Rust function with the documented defaults', () => {
  const template = guardTemplate();
  template.hasResourceProperties('AWS::Lambda::Function', {
    FunctionName: 'invokeguard',
    Handler: 'bootstrap',
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    MemorySize: 128,
    // A sweep reads every guarded policy; the guard stops early, and fails visibly, before 5 minutes.
    Timeout: 300,
    ReservedConcurrentExecutions: 2,
    LoggingConfig: {
      LogFormat: 'JSON',
      ApplicationLogLevel: 'INFO',
      SystemLogLevel: 'WARN',
      LogGroup: { Ref: Match.stringLikeRegexp('LogGroup') },
    },
    Environment: {
      Variables: {
        INVOKEGUARD_POLICIES: '/var/task/invokers.json',
        INVOKEGUARD_EVENT_BUS: { Ref: Match.stringLikeRegexp('NotificationsBus') },
        INVOKEGUARD_MODE: Match.absent(),
        INVOKEGUARD_DEDUP_TABLE: { Ref: Match.stringLikeRegexp('TrailFileBackstopDedupTable') },
        // Its home (the region is Lambda's AWS_REGION) and its own role, known at init.
        INVOKEGUARD_HOME_ACCOUNT: '123456789012',
        INVOKEGUARD_ROLE_ARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('InvokeGuardRole'), 'Arn'] },
      },
    },
  });
  template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/lambda/invokeguard', RetentionInDays: 365 });
  // The role reference orders the two already; a redundant DependsOn fails cfn-lint (W3005).
  template.hasResource('AWS::Lambda::Function', { DependsOn: Match.absent() });
});

test('props change memory, timeout, concurrency, retention, name and mode', () => {
  const template = guardTemplate({
    memorySize: 256, timeout: Duration.seconds(10), reservedConcurrentExecutions: 1,
    logRetention: logs.RetentionDays.ONE_MONTH, functionName: 'guard-test', mode: 'report',
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    FunctionName: 'guard-test', MemorySize: 256, Timeout: 10, ReservedConcurrentExecutions: 1,
    Environment: { Variables: Match.objectLike({ INVOKEGUARD_MODE: 'report' }) },
  });
  template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/lambda/guard-test', RetentionInDays: 30 });
});

test('role may manage only the guarded functions, list their aliases, put events on its bus, write its own logs, read trail log files and claim notifications', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::IAM::Role', 1);
  template.resourceCountIs('AWS::IAM::Policy', 0);
  const logGroup = new Capture();
  const bus = new Capture();
  const trailBucket = new Capture();
  const dedupTable = new Capture();
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] },
    ManagedPolicyArns: Match.absent(),
    Policies: [{
      PolicyName: 'invokeguard',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'WriteOwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] } },
          {
            Sid: 'ManageGuardedResourcePolicies',
            Effect: 'Allow',
            // Exactly these: whole-document writes (PutResourcePolicy/DeleteResourcePolicy) for `apply`,
            // but no GetResourcePolicy, which the guard never calls; the sweep lists versions and aliases.
            Action: [
              'lambda:GetPolicy', 'lambda:AddPermission', 'lambda:RemovePermission',
              'lambda:PutResourcePolicy', 'lambda:DeleteResourcePolicy', 'lambda:ListAliases', 'lambda:ListVersionsByFunction',
            ],
            // Exactly the guarded functions and their qualified ARNs (versions and aliases).
            Resource: [nameArn('BlogFunction'), nameArn('BlogFunction', ':*'), BILLING_ARN, `${BILLING_ARN}:*`],
          },
          { Sid: 'Notify', Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [bus, 'Arn'] } },
          // The trail-file backstop: this region's trail log files only (not digests, not other regions), no
          // kms:Decrypt (the bucket is SSE-S3), and a conditional PutItem on the dedup table, nothing else on DynamoDB.
          {
            Sid: 'ReadTrailLogFiles', Effect: 'Allow', Action: 's3:GetObject',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [trailBucket, 'Arn'] }, '/AWSLogs/123456789012/CloudTrail/eu-west-1/*']] },
          },
          { Sid: 'ClaimNotifications', Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: { 'Fn::GetAtt': [dedupTable, 'Arn'] } },
        ],
      },
    }],
  });
  const resources = template.toJSON().Resources;
  assert.equal(resources[logGroup.asString()].Type, 'AWS::Logs::LogGroup');
  assert.equal(resources[bus.asString()].Type, 'AWS::Events::EventBus');
  assert.equal(resources[trailBucket.asString()].Type, 'AWS::S3::Bucket');
  assert.equal(resources[dedupTable.asString()].Type, 'AWS::DynamoDB::Table');
});

test('invalid concurrency, mode and email are rejected with a clear message', () => {
  assert.throws(() => guardTemplate({ reservedConcurrentExecutions: 0 }), /reservedConcurrentExecutions must be at least 1/);
  assert.throws(() => guardTemplate({ mode: 'audit' as never }), /mode must be one of enforce, report/);
  assert.throws(() => guardTemplate({ alertEmail: 'not-an-address' }), /alertEmail "not-an-address" is not an email address/);
});

test('a function ARN of another region or account draws a synth warning', () => {
  const annotations = Annotations.fromStack(guardStack({}, new App({ context: NO_BUNDLING }), { account: '123456789012', region: 'us-east-1' }));
  annotations.hasWarning('*', Match.stringLikeRegexp('function:Billing is not in this stack.s account and region'));
  Annotations.fromStack(guardStack()).hasNoWarning('*', Match.stringLikeRegexp('not in this stack'));
});

test('an environment-agnostic stack gives the guard its account as deployed, and the role it runs as', () => {
  const stack = new InvokeguardStack(new App({ context: NO_BUNDLING }), 'Agnostic', {
    guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI }, athena: false,
  });
  const template = Template.fromStack(stack);
  const roleId = stack.getLogicalId(stack.guard.function.role!.node.defaultChild as CfnElement);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({
      INVOKEGUARD_HOME_ACCOUNT: { Ref: 'AWS::AccountId' },
      INVOKEGUARD_ROLE_ARN: { 'Fn::GetAtt': [roleId, 'Arn'] },
    }) },
  });
});
