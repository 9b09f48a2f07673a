import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { Template } from 'aws-cdk-lib/assertions';
import { InvokeGuard } from '../lib/invoke-guard';
import { ACCEPT_ALL, guardStack, guardTemplate, NO_BUNDLING, POLICIES } from './helpers';

test('an invokeguard bus routes violations and remediations to a KMS-encrypted, TLS-only topic', () => {
  const template = guardTemplate({ alertEmail: 'security@example.com' });
  template.hasResourceProperties('AWS::Events::EventBus', { Name: 'invokeguard' });
  const topic = new Capture();
  template.hasResourceProperties('AWS::Events::Rule', {
    EventBusName: { Ref: Match.stringLikeRegexp('NotificationsBus') },
    EventPattern: { source: ['invokeguard'], 'detail-type': ['Invokeguard Violation', 'Invokeguard Remediation'] },
    Targets: [Match.objectLike({ Arn: { Ref: topic } })],
  });
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('TopicKey'), 'Arn'] } });
  template.hasResourceProperties('AWS::KMS::Key', {
    EnableKeyRotation: true,
    KeyPolicy: {
      Statement: Match.arrayWith([
        Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
        Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
      ]),
    },
  });
  template.hasResourceProperties('AWS::SNS::TopicPolicy', {
    Topics: [{ Ref: topic.asString() }],
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
  });
  template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'security@example.com', TopicArn: { Ref: topic.asString() } });
});

test('no email subscription unless alertEmail is set; bus name is configurable', () => {
  const template = guardTemplate({ eventBusName: 'guard-events' });
  template.resourceCountIs('AWS::SNS::Subscription', 0);
  template.hasResourceProperties('AWS::Events::EventBus', { Name: 'guard-events' });
});

test('existingEventBus is used as is, and conflicts with eventBusName', () => {
  const stack = new Stack(new App({ context: NO_BUNDLING }), 'Standalone');
  const bus = events.EventBus.fromEventBusName(stack, 'Bus', 'security-events');
  new InvokeGuard(stack, 'Guard', { policiesFile: POLICIES, validatorCommand: ACCEPT_ALL, existingEventBus: bus });
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::Events::EventBus', 0);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ INVOKEGUARD_EVENT_BUS: 'security-events' }) },
  });
  template.hasResourceProperties('AWS::Events::Rule', {
    EventBusName: 'security-events',
    EventPattern: Match.objectLike({ source: ['invokeguard'] }),
  });
  assert.throws(() => guardStack({ existingEventBus: bus, eventBusName: 'other' }),
    /Either provide existingEventBus or eventBusName, but not both/);
});

test('alarms on guard errors, a non-empty DLQ and failed remediations notify the topic', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
  const topicAction = [{ Ref: Match.stringLikeRegexp('NotificationsTopic') }];
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'AWS/Lambda', MetricName: 'Errors', Statistic: 'Sum', Threshold: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: topicAction,
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('Function') } }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1, AlarmActions: topicAction,
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'QueueName'] } }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'Invokeguard', MetricName: 'FailedRemediations', Statistic: 'Sum', Threshold: 1, AlarmActions: topicAction,
  });
  template.hasResourceProperties('AWS::Logs::MetricFilter', {
    LogGroupName: { Ref: Match.stringLikeRegexp('LogGroup') },
    FilterPattern: '{ $.message = "remediation" && $.outcome = "failed" }',
    MetricTransformations: [{ MetricNamespace: 'Invokeguard', MetricName: 'FailedRemediations', MetricValue: '1' }],
  });
});

test('saved Logs Insights queries use the log-line field names', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::Logs::QueryDefinition', 3);
  const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition'))
    .map((r) => [r.Properties.Name, r.Properties.QueryString] as [string, string]);
  const byName = new Map(queries);
  const remediations = byName.get('invokeguard/remediations-in-time-order') ?? '';
  assert.match(remediations, /filter message = "remediation"/);
  assert.match(remediations, /fields @timestamp, function, qualifier, mode, action, sid, principal, outcome, revisionId, error/);
  assert.match(remediations, /sort @timestamp asc/);
  const violations = byName.get('invokeguard/violations-by-caller') ?? '';
  assert.match(violations, /filter message = "decision"/);
  assert.match(violations, /filter verdict = "violation"/);
  assert.match(violations, /by caller\.kind, caller\.principal, caller\.account, caller\.arn, caller\.sourceArn, caller\.sourceAccount, function/);
  const actions = byName.get('invokeguard/actions-per-function') ?? '';
  assert.match(actions, /stats count\(\*\) as actions by function, qualifier, action, outcome/);
  template.hasResourceProperties('AWS::Logs::QueryDefinition', {
    LogGroupNames: [{ Ref: Match.stringLikeRegexp('LogGroup') }],
  });
});
