import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { Template } from 'aws-cdk-lib/assertions';
import { InvokeGuard } from '../lib/invoke-guard';
import { guardStack, guardTemplate, NO_BUNDLING, POLICIES, STUB_CLI, STUB_CODE } from './helpers';

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
  new InvokeGuard(stack, 'Guard', { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI, existingEventBus: bus });
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

test('alarms on guard errors, a non-empty DLQ, failed remediations, incomplete sweeps and unfixed grants notify the topic', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
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
  template.hasResourceProperties('AWS::Logs::MetricFilter', {
    LogGroupName: { Ref: Match.stringLikeRegexp('LogGroup') },
    FilterPattern: '{ $.message = "sweep" && $.incomplete IS TRUE }',
    MetricTransformations: [{ MetricNamespace: 'Invokeguard', MetricName: 'IncompleteSweeps', MetricValue: '1' }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'Invokeguard', MetricName: 'IncompleteSweeps', Statistic: 'Sum', Period: 300, EvaluationPeriods: 1,
    Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
    Dimensions: Match.absent(), AlarmActions: topicAction,
  });
});

test('UnfixedGrants sums `unfixed` of summary lines per mode, and alarms on enforced functions only', () => {
  // The fixture enforces by default; BlogFunction is in report mode, Billing is enforced.
  const template = guardTemplate();
  template.resourceCountIs('AWS::Logs::MetricFilter', 3);
  template.hasResourceProperties('AWS::Logs::MetricFilter', {
    LogGroupName: { Ref: Match.stringLikeRegexp('LogGroup') },
    FilterPattern: '{ $.message = "summary" && $.unfixed > 0 }',
    MetricTransformations: [{
      MetricNamespace: 'Invokeguard', MetricName: 'UnfixedGrants', MetricValue: '$.unfixed',
      Dimensions: [{ Key: 'mode', Value: '$.mode' }],
    }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'Invokeguard', MetricName: 'UnfixedGrants', Statistic: 'Sum', Period: 300, EvaluationPeriods: 1,
    Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
    // A function the file sets to report mode leaves grants by design: its lines carry mode "report".
    Dimensions: [{ Name: 'mode', Value: 'enforce' }],
    AlarmActions: [{ Ref: Match.stringLikeRegexp('NotificationsTopic') }],
  });
});

test('in report mode the UnfixedGrants metric stays but its alarm does not exist', () => {
  const reported = guardTemplate({ mode: 'report' });
  reported.resourceCountIs('AWS::CloudWatch::Alarm', 4);
  // Incomplete sweeps are alarmed on in report mode too: they mean policies went unchecked, not unfixed.
  reported.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'IncompleteSweeps' });
  assert.deepEqual(reported.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'UnfixedGrants' } }), {});
  reported.hasResourceProperties('AWS::Logs::MetricFilter', {
    MetricTransformations: [Match.objectLike({ MetricName: 'UnfixedGrants' })],
  });

  // The file's default mode decides without the prop: report there, with no function enforcing, means no alarm...
  const policies = (doc: unknown) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ig-')), 'invokers.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    return file;
  };
  const reportFile = policies({ version: 1, defaults: { mode: 'report' }, functions: { A: { allow: [] }, B: { mode: 'report', allow: [] } } });
  guardTemplate({ policiesFile: reportFile }).resourceCountIs('AWS::CloudWatch::Alarm', 4);
  // ...and `mode: enforce` replaces only that default, so the alarm is back.
  guardTemplate({ policiesFile: reportFile, mode: 'enforce' }).hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnfixedGrants' });
  // A function that enforces on its own under a report default is alarmed on too.
  const oneEnforced = policies({ version: 1, defaults: { mode: 'report' }, functions: { A: { mode: 'enforce', allow: [] } } });
  guardTemplate({ policiesFile: oneEnforced }).hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnfixedGrants' });
  // No default at all is enforce, as in the Rust guard.
  const noDefault = policies({ version: 1, functions: { A: { allow: [] } } });
  guardTemplate({ policiesFile: noDefault }).hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnfixedGrants' });
});

test('saved Logs Insights queries use the log-line field names', () => {
  const template = guardTemplate();
  template.resourceCountIs('AWS::Logs::QueryDefinition', 8);
  const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition'))
    .map((r) => [r.Properties.Name, r.Properties.QueryString] as [string, string]);
  const byName = new Map(queries);
  const remediations = byName.get('invokeguard/remediations-in-time-order') ?? '';
  assert.match(remediations, /filter message = "remediation"/);
  assert.match(remediations,
    /fields @timestamp, input, function, qualifier, mode, action, apply, sid, statementIndex, principal, outcome, revisionId, error, eventId, requestId/);
  assert.match(remediations, /sort @timestamp asc/);
  const violations = byName.get('invokeguard/violations-by-caller') ?? '';
  assert.match(violations, /filter message = "decision"/);
  assert.match(violations, /filter verdict = "violation"/);
  assert.match(violations, /by caller\.kind, caller\.principal, caller\.account, caller\.arn, caller\.sourceArn, caller\.sourceAccount, function/);
  const actions = byName.get('invokeguard/actions-per-function') ?? '';
  assert.match(actions, /stats count\(\*\) as actions by function, qualifier, action, outcome/);
  const unfixed = byName.get('invokeguard/unfixed-grants') ?? '';
  assert.match(unfixed, /filter message = "summary"/);
  assert.match(unfixed, /filter unfixed > 0/);
  assert.match(unfixed, /stats sum\(unfixed\) as unfixedGrants, .* by function, qualifier\b/);
  assert.match(unfixed, /sort unfixedGrants desc/);
  const decisions = byName.get('invokeguard/decisions-by-input') ?? '';
  assert.match(decisions, /filter message = "decision"/);
  assert.match(decisions, /stats count\(\*\) as decisions, .* by input, verdict, function\b/);
  assert.match(decisions, /sort decisions desc/);
  const sweeps = byName.get('invokeguard/sweeps') ?? '';
  assert.match(sweeps, /filter message = "sweep"/);
  assert.match(sweeps, /fields @timestamp, pair, functions, policiesRead, drift, fixed, unfixed, failed, apiCalls, elapsedMs, incomplete, requestId/);
  assert.match(sweeps, /sort @timestamp desc/);
  const perPair = byName.get('invokeguard/last-complete-sweep-per-pair') ?? '';
  assert.match(perPair, /filter message = "sweep"/);
  // Logs Insights reads the JSON boolean `incomplete` as 1 or 0.
  assert.match(perPair, /filter incomplete = 0/);
  // A pair whose role refused AssumeRole ends with `incomplete: false` and every function failed: not complete.
  assert.match(perPair, /filter failed = 0/);
  assert.match(perPair, /stats latest\(@timestamp\) as lastComplete, .* by pair$/m);
  assert.match(perPair, /sort lastComplete asc/);
  assert.deepEqual(queries.map(([name]) => name).sort(), [
    'invokeguard/actions-per-function', 'invokeguard/decisions-by-input', 'invokeguard/last-complete-sweep-per-pair',
    'invokeguard/remediations-in-time-order',
    'invokeguard/sweeps', 'invokeguard/trail-file-catches', 'invokeguard/unfixed-grants', 'invokeguard/violations-by-caller',
  ]);
  template.hasResourceProperties('AWS::Logs::QueryDefinition', {
    LogGroupNames: [{ Ref: Match.stringLikeRegexp('LogGroup') }],
  });
});
