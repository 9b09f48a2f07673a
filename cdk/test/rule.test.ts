import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Duration } from 'aws-cdk-lib';
import { Capture, Match } from 'aws-cdk-lib/assertions';
import { BILLING_ARN, guardTemplate, nameArn } from './helpers';

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
