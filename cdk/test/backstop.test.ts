import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { InvokeGuard } from '../lib/invoke-guard';
import { TrailFileBackstop, TrailFileBackstopProps } from '../lib/trail-file-backstop';
import { guardTemplate, NO_BUNDLING, POLICIES, STUB_CLI, STUB_CODE } from './helpers';

const S3_EVENT = { source: ['aws.s3'] };

test('trail-file rule: Object Created events of this account and region\'s trail log files, on the default bus', () => {
  const template = guardTemplate();
  const bucket = new Capture();
  const rules = template.findResources('AWS::Events::Rule', { Properties: { EventPattern: Match.objectLike(S3_EVENT) } });
  assert.equal(Object.keys(rules).length, 1);
  const [rule] = Object.values(rules);
  assert.equal(rule.Properties.EventBusName, undefined);
  assert.equal(rule.Properties.State, 'ENABLED');
  // Exactly this pattern: the trail's bucket, and log files only (digests are under CloudTrail-Digest/). A
  // single-account trail writes AWSLogs/ACCOUNT/CloudTrail/REGION/ (no organization id); the home region only,
  // because the guard acts on no other region's functions.
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: {
        bucket: { name: [{ Ref: bucket }] },
        object: { key: [{ prefix: 'AWSLogs/123456789012/CloudTrail/eu-west-1/' }] },
      },
    },
  });
  const resources = template.toJSON().Resources;
  assert.equal(resources[bucket.asString()].Type, 'AWS::S3::Bucket');
  // The bucket the trail writes to.
  template.hasResourceProperties('AWS::CloudTrail::Trail', { S3BucketName: { Ref: bucket.asString() } });
});

test('trail-file rule targets the guard with the same retry policy and dead-letter queue as the Invoke rule', () => {
  const template = guardTemplate({ maxEventAge: Duration.minutes(45), retryAttempts: 4 });
  const targetOf = (pattern: Record<string, unknown>) => {
    const rules = Object.values(template.findResources('AWS::Events::Rule', { Properties: { EventPattern: Match.objectLike(pattern) } }));
    assert.equal(rules.length, 1);
    assert.equal(rules[0].Properties.Targets.length, 1);
    const { Id: _id, ...target } = rules[0].Properties.Targets[0];
    return target;
  };
  const backstop = targetOf(S3_EVENT);
  assert.deepEqual(backstop.RetryPolicy, { MaximumEventAgeInSeconds: 2700, MaximumRetryAttempts: 4 });
  assert.equal(backstop.Input, undefined);
  assert.deepEqual(backstop, targetOf({ source: ['aws.lambda'], detail: Match.objectLike({ eventName: ['Invoke', 'InvokeFunctionUrl'] }) }));
  // EventBridge may invoke the guard for this rule too.
  template.hasResourceProperties('AWS::Lambda::Permission', {
    Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', FunctionName: backstop.Arn,
    SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('TrailFileBackstopRule'), 'Arn'] },
  });
});

test('the trail bucket sends its events to EventBridge natively, without a notifications custom resource', () => {
  const template = guardTemplate();
  template.hasResourceProperties('AWS::S3::Bucket', {
    NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
  });
  // The L2's eventBridgeEnabled would add Custom::S3BucketNotifications and its handler function.
  template.resourceCountIs('Custom::S3BucketNotifications', 0);
  assert.deepEqual(Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => !/^InvokeGuardFunction/.test(id)), []);
});

test('dedup table: eventId key, on demand, TTL on expiresAt, AWS-owned encryption, deleted with the stack, named by CloudFormation', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::DynamoDB::Table', 1);
  const table = new Capture();
  template.hasResource('AWS::DynamoDB::Table', {
    DeletionPolicy: 'Delete',
    UpdateReplacePolicy: 'Delete',
    Properties: {
      KeySchema: [{ AttributeName: 'eventId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'eventId', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      // SSEEnabled false is DynamoDB's AWS-owned key (encrypted at rest, no KMS key or charge).
      SSESpecification: { SSEEnabled: false },
      TableName: Match.absent(),
      ProvisionedThroughput: Match.absent(),
      // Acknowledged (AwsSolutions-DDB3): day-old dedup keys are not worth restoring.
      PointInTimeRecoverySpecification: Match.absent(),
    },
  });
  const [id] = Object.keys(template.findResources('AWS::DynamoDB::Table'));
  template.hasResourceProperties('AWS::Lambda::Function', {
    FunctionName: 'invokeguard',
    Environment: { Variables: Match.objectLike({ INVOKEGUARD_DEDUP_TABLE: { Ref: table } }) },
  });
  assert.equal(table.asString(), id);
});

test('saved query invokeguard/trail-file-catches lists records first seen in a trail file, by function and caller', () => {
  const template = guardTemplate();
  const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition', {
    Properties: { Name: 'invokeguard/trail-file-catches' },
  }));
  assert.equal(queries.length, 1);
  const [query] = queries;
  const [logGroup] = query.Properties.LogGroupNames;
  assert.equal(query.Properties.LogGroupNames.length, 1);
  assert.deepEqual(template.toJSON().Resources[logGroup.Ref].Properties.LogGroupName, '/aws/lambda/invokeguard');
  const text: string = query.Properties.QueryString;
  const commands = text.split('\n| ');
  // Decision lines of the inputs that carry a CloudTrail eventID; grouped per record, kept when the trail file's
  // line came first (EventBridge never delivered it, or delivered it later).
  assert.equal(commands[0], 'filter message = "decision" and (input = "invoke" or input = "change" or input = "trail-file")');
  assert.match(commands[1], /^stats earliest\(input\) as firstInput, .* by function, eventId$/);
  for (const caller of ['caller.kind', 'caller.principal', 'caller.sourceArn', 'actor']) {
    assert.ok(commands[1].includes(`(${caller})`), `the query shows ${caller}`);
  }
  assert.equal(commands[2], 'filter firstInput = "trail-file"');
  assert.equal(commands[3], 'sort firstSeen desc');
});

test('createTrail: false creates no backstop: no S3 rule, no dedup table, no permissions, no query, no env', () => {
  const template = guardTemplate({ createTrail: false });
  assert.deepEqual(template.findResources('AWS::Events::Rule', { Properties: { EventPattern: Match.objectLike(S3_EVENT) } }), {});
  template.resourceCountIs('AWS::DynamoDB::Table', 0);
  template.resourcePropertiesCountIs('AWS::Logs::QueryDefinition', { Name: 'invokeguard/trail-file-catches' }, 0);
  template.hasResourceProperties('AWS::Lambda::Function', {
    FunctionName: 'invokeguard',
    Environment: { Variables: Match.objectLike({ INVOKEGUARD_DEDUP_TABLE: Match.absent() }) },
  });
  const [role] = Object.values(template.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp('^invokeguard') } }));
  const actions = role.Properties.Policies[0].PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat());
  assert.deepEqual(actions.filter((a: string) => /^(s3|dynamodb|kms):/.test(a)), []);
});

/** The construct alone, for buckets the stack's trail does not have: KMS-encrypted, or an existing one. */
function standalone(bucketOf: (stack: Stack) => s3.IBucket, props: Partial<TrailFileBackstopProps> = {}) {
  const stack = new Stack(new App({ context: NO_BUNDLING }), 'Standalone', { env: { account: '111122223333', region: 'us-east-2' } });
  // A guard without a trail of its own (createTrail: false), given the backstop of another bucket.
  const guard = new InvokeGuard(stack, 'Guard', { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI, createTrail: false, queryFolder: 'guard' });
  const backstop = new TrailFileBackstop(stack, 'Backstop', { bucket: bucketOf(stack), guard, ...props });
  return { stack, guard, backstop, template: Template.fromStack(stack) };
}

test('a KMS-encrypted trail bucket adds kms:Decrypt on its key, through S3 only', () => {
  const { template } = standalone((stack) => new s3.Bucket(stack, 'Trail', { encryptionKey: new kms.Key(stack, 'Key') }));
  const key = new Capture();
  const bucket = new Capture();
  template.hasResourceProperties('AWS::IAM::Role', {
    Policies: [{
      PolicyName: 'invokeguard',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: Match.arrayWith([
          {
            Sid: 'ReadTrailLogFiles', Effect: 'Allow', Action: 's3:GetObject',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/AWSLogs/111122223333/CloudTrail/us-east-2/*']] },
          },
          {
            Sid: 'DecryptTrailLogFiles', Effect: 'Allow', Action: 'kms:Decrypt',
            Resource: { 'Fn::GetAtt': [key, 'Arn'] },
            Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.us-east-2.', { Ref: 'AWS::URLSuffix' }]] } } },
          },
          { Sid: 'ClaimNotifications', Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('DedupTable'), 'Arn'] } },
        ]),
      },
    }],
  });
  const resources = template.toJSON().Resources;
  assert.equal(resources[key.asString()].Type, 'AWS::KMS::Key');
  assert.equal(resources[bucket.asString()].Type, 'AWS::S3::Bucket');
});

test('an existing (imported) trail bucket: the bucket is left alone, and an organization trail prefix can be given', () => {
  const prefix = 'AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-2/';
  const { template, backstop } = standalone((stack) => s3.Bucket.fromBucketName(stack, 'Existing', 'org-trail-logs'), { logFilePrefix: prefix });
  template.resourceCountIs('AWS::S3::Bucket', 0);
  template.resourceCountIs('Custom::S3BucketNotifications', 0);
  assert.ok(backstop.rule instanceof events.Rule);
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: Match.objectLike({ detail: { bucket: { name: ['org-trail-logs'] }, object: { key: [{ prefix }] } } }),
  });
  template.hasResourceProperties('AWS::IAM::Role', {
    Policies: [Match.objectLike({
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([Match.objectLike({
          Sid: 'ReadTrailLogFiles',
          Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::org-trail-logs/${prefix}*`]] },
        })]),
      }),
    })],
  });
  // No key known: no kms:Decrypt.
  // (The guard's own topic key grants kms:Decrypt to services; the guard's role gets none.)
  assert.doesNotMatch(JSON.stringify(template.findResources('AWS::IAM::Role')), /kms:Decrypt/);
});
