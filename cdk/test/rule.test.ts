import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Duration } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { EVENT_PATTERN_LIMIT } from '../lib/guarded-functions';
import { BILLING_ARN, guardStack, guardTemplate, manyFunctions, nameArn } from './helpers';

test('Invoke rule on the default bus matches CloudTrail Invoke and InvokeFunctionUrl events of the guarded functions only', () => {
  const template = guardTemplate();
  template.hasResourceProperties('AWS::Events::Rule', {
    EventBusName: Match.absent(),
    EventPattern: {
      source: ['aws.lambda'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['lambda.amazonaws.com'],
        eventName: ['Invoke', 'InvokeFunctionUrl'],
        // Refused calls never reach the guard: no errorCode, or any errorCode but an access denial.
        errorCode: [{ exists: false }, { 'anything-but': ['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Client.UnauthorizedOperation'] }],
        resources: {
          ARN: [
            nameArn('BlogFunction'), { prefix: nameArn('BlogFunction', ':') },
            BILLING_ARN, { prefix: `${BILLING_ARN}:` },
          ],
        },
      },
    },
  });
});

test('Invoke rule targets the guard with a retry policy and an encrypted, TLS-only dead-letter queue', () => {
  const template = guardTemplate({ maxEventAge: Duration.hours(1), retryAttempts: 3 });
  const queue = new Capture();
  const fn = new Capture();
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: Match.objectLike({ source: ['aws.lambda'] }),
    Targets: [{
      Id: Match.anyValue(),
      Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
      RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
    }],
  });
  const resources = template.toJSON().Resources;
  assert.equal(resources[fn.asString()].Type, 'AWS::Lambda::Function');
  assert.equal(resources[queue.asString()].Type, 'AWS::SQS::Queue');
  assert.equal(resources[queue.asString()].Properties.SqsManagedSseEnabled, true);
  template.hasResourceProperties('AWS::SQS::QueuePolicy', {
    Queues: [{ Ref: queue.asString() }],
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        Match.objectLike({ Action: 'sqs:SendMessage', Principal: { Service: 'events.amazonaws.com' } }),
      ]),
    },
  });
});

test('retry defaults keep an undeliverable event for two hours before it goes to the DLQ', () => {
  guardTemplate().hasResourceProperties('AWS::Events::Rule', {
    Targets: [Match.objectLike({ RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 } })],
  });
});

test('change rule on the default bus matches the management events that change who may invoke, by name prefix', () => {
  const template = guardTemplate();
  const rules = template.findResources('AWS::Events::Rule', {
    Properties: { EventPattern: Match.objectLike({ detail: Match.objectLike({ eventCategory: ['Management'] }) }) },
  });
  assert.equal(Object.keys(rules).length, 1);
  const [rule] = Object.values(rules);
  assert.equal(rule.Properties.EventBusName, undefined);
  assert.equal(rule.Properties.State, 'ENABLED');
  // Exactly this pattern: no caller filter (IAM users have no sessionContext), no function filter (the guard
  // resolves names, partial and full ARNs), and prefixes because real names carry suffixes.
  assert.deepEqual(rule.Properties.EventPattern, {
    source: ['aws.lambda'],
    'detail-type': ['AWS API Call via CloudTrail'],
    detail: {
      eventSource: ['lambda.amazonaws.com'],
      eventCategory: ['Management'],
      eventName: [
        { prefix: 'AddPermission' }, { prefix: 'RemovePermission' },
        { prefix: 'PutResourcePolicy' }, { prefix: 'DeleteResourcePolicy' },
        { prefix: 'CreateFunctionUrlConfig' }, { prefix: 'UpdateFunctionUrlConfig' },
        { prefix: 'CreateAlias' }, { prefix: 'UpdateAlias' },
      ],
    },
  });
});

test('change, sweep, Invoke and trail-file rules target the guard with the same retry policy and dead-letter queue', () => {
  const template = guardTemplate({ maxEventAge: Duration.minutes(30), retryAttempts: 5 });
  const rules = template.findResources('AWS::Events::Rule', { Properties: { EventBusName: Match.absent() } });
  assert.equal(Object.keys(rules).length, 4);
  const fns = new Set<string>();
  const queues = new Set<string>();
  for (const rule of Object.values(rules)) {
    const [target] = rule.Properties.Targets;
    assert.equal(rule.Properties.Targets.length, 1);
    assert.deepEqual(target.RetryPolicy, { MaximumEventAgeInSeconds: 1800, MaximumRetryAttempts: 5 });
    assert.equal(target.Input, undefined);
    fns.add(target.Arn['Fn::GetAtt'][0]);
    queues.add(target.DeadLetterConfig.Arn['Fn::GetAtt'][0]);
  }
  assert.equal(fns.size, 1);
  assert.equal(queues.size, 1);
  const resources = template.toJSON().Resources;
  assert.equal(resources[[...fns][0]].Type, 'AWS::Lambda::Function');
  assert.equal(resources[[...queues][0]].Type, 'AWS::SQS::Queue');
  // EventBridge may invoke the guard for each of the four rules.
  template.resourcePropertiesCountIs('AWS::Lambda::Permission', {
    Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com',
    FunctionName: { 'Fn::GetAtt': [[...fns][0], 'Arn'] }, SourceArn: Match.anyValue(),
  }, 4);
});

test('many guarded functions are spread over Invoke rules within EventBridge\'s pattern size limit, each function once', () => {
  const count = 60;
  const stack = guardStack({ policiesFile: manyFunctions(count, 'a-function-with-a-rather-long-name-') });
  const rules = Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))
    .filter((r) => r.Properties.EventPattern?.detail?.eventName?.[0] === 'Invoke');
  assert.ok(rules.length > 1, `${rules.length} rule(s)`);
  assert.equal(stack.guard.invokeRules.length, rules.length);
  const covered: unknown[] = [];
  for (const rule of rules) {
    // Measured as deployed, with the partition at its longest: still within the limit.
    const deployed = JSON.stringify(rule.Properties.EventPattern).replace(/\{"Fn::Join":\["",\["arn:",\{"Ref":"AWS::Partition"\},"([^"]*)"\]\]\}/g, '"arn:aws-us-gov$1"');
    assert.ok(!deployed.includes('Fn::'), deployed);
    assert.ok(deployed.length <= EVENT_PATTERN_LIMIT, `${deployed.length} characters`);
    assert.deepEqual(rule.Properties.Targets.length, 1);
    covered.push(...rule.Properties.EventPattern.detail.resources.ARN);
  }
  const expected = Array.from({ length: count }, (_, i) => `a-function-with-a-rather-long-name-${i}`)
    .flatMap((name) => [nameArn(name), { prefix: nameArn(name, ':') }]);
  assert.deepEqual(covered, expected);
  // A file that fits one pattern keeps one rule under its usual id.
  assert.equal(guardStack().guard.invokeRules.length, 1);
  assert.equal(guardStack().guard.invokeRules[0].node.id, 'InvokeRule');
});
