import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { selectorValues } from '../lib/invoke-trail';
import { BILLING_ARN, guardStack, guardTemplate, manyFunctions, nameArn } from './helpers';

const invokeSelector = (arnCondition: Record<string, unknown>) => ({
  FieldSelectors: [
    { Field: 'eventCategory', Equals: ['Data'] },
    { Field: 'resources.type', Equals: ['AWS::Lambda::Function'] },
    // Function URL invocations are data events too; the guard judges both.
    { Field: 'eventName', Equals: ['Invoke', 'InvokeFunctionUrl'] },
    { Field: 'resources.ARN', ...arnCondition },
  ],
});

test('trail logs write management events and Invoke/InvokeFunctionUrl data events of exactly the guarded functions', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::CloudTrail::Trail', 1);
  template.hasResourceProperties('AWS::CloudTrail::Trail', {
    EnableLogFileValidation: true,
    IsLogging: true,
    EventSelectors: Match.absent(),
    AdvancedEventSelectors: [
      // The change events (AddPermission, PutResourcePolicy, CreateAlias, ...) are write management events;
      // without a trail logging them EventBridge never sees them.
      {
        Name: 'Write management events',
        FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'readOnly', Equals: ['false'] }],
      },
      Match.objectLike(invokeSelector({ Equals: [nameArn('BlogFunction'), BILLING_ARN], StartsWith: Match.absent() })),
      // Prefixes end with ':' so BlogFunction does not also log BlogFunctionOther.
      Match.objectLike(invokeSelector({ StartsWith: [nameArn('BlogFunction', ':'), `${BILLING_ARN}:`], Equals: Match.absent() })),
    ],
  });
});

test('trail bucket is encrypted, private, TLS-only, versioned, expires logs and is retained', () => {
  const template = guardTemplate({ trailLogExpiration: Duration.days(90) });
  template.hasResource('AWS::S3::Bucket', {
    DeletionPolicy: 'Retain',
    Properties: {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90, Status: 'Enabled' })] },
    },
  });
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        Match.objectLike({ Action: 's3:PutObject', Principal: { Service: 'cloudtrail.amazonaws.com' } }),
      ]),
    },
  });
});

test('createTrail: false leaves trail and bucket to the existing trail', () => {
  const template = guardTemplate({ createTrail: false });
  template.resourceCountIs('AWS::CloudTrail::Trail', 0);
  template.resourceCountIs('AWS::S3::Bucket', 0);
  // Invoke, change and sweep rules on the default bus, and the notification rule: none depends on the trail.
  template.resourceCountIs('AWS::Events::Rule', 4);
});

test('createTrail: false with trailLogExpiration is rejected', () => {
  assert.throws(() => guardTemplate({ createTrail: false, trailLogExpiration: Duration.days(30) }),
    /trailLogExpiration .*cannot be set with createTrail: false/);
});

test('a trail selecting more functions than CloudTrail\'s 500 selector values is refused at synth, saying how many fit', () => {
  const fits = guardStack({ policiesFile: manyFunctions(245, 'f') });
  const trail = Object.values(Template.fromStack(fits).findResources('AWS::CloudTrail::Trail'))[0];
  assert.equal(selectorValues(trail.Properties.AdvancedEventSelectors.map((s: { FieldSelectors: Record<string, unknown>[] }) => ({
    fieldSelectors: s.FieldSelectors.map((f) => ({ equalTo: f.Equals, startsWith: f.StartsWith })),
  }))), 500);
  assert.throws(() => guardStack({ policiesFile: manyFunctions(246, 'f') }),
    /would hold 502 values for 246 functions; CloudTrail takes at most 500 on a trail, so 245 functions/);
  // Without the stack's trail, no such limit applies here.
  assert.doesNotThrow(() => guardStack({ policiesFile: manyFunctions(246, 'f'), createTrail: false }));
});
