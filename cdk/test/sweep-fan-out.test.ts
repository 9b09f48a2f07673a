import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { App, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InvokeguardHubStack } from '../lib/hub-stack';
import { DEFAULT_SWEEP_MAX_CONCURRENCY, SWEEP_QUEUE_URL_ENV } from '../lib/sweep-fan-out';
import { APP_ATHENA, FIXTURES, guardStack, guardTemplate, NO_BUNDLING, STUB_CLI, STUB_CODE } from './helpers';
import { InvokeGuardProps } from '../lib/invoke-guard';

type Json = any;

function hubTemplate(guard: Partial<InvokeGuardProps> = {}): Template {
  return Template.fromStack(new InvokeguardHubStack(new App({ context: NO_BUNDLING }), 'Hub', {
    env: { account: '999999999999', region: 'eu-west-1' },
    guard: { policiesFile: path.join(FIXTURES, 'org-invokers.json'), code: STUB_CODE, cli: STUB_CLI, ...guard },
    organizationId: 'o-a1b2c3d4e5',
    memberOrganizationalUnits: ['ou-ab12-abcdefgh'],
    athena: APP_ATHENA,
  }));
}

const queues = (t: Template) => Object.entries(t.findResources('AWS::SQS::Queue'));
/** The sweep queue: the one with a redrive policy (the rules' dead-letter queue has none). */
function sweepQueue(t: Template): [string, Json] {
  const found = queues(t).filter(([, q]) => q.Properties.RedrivePolicy);
  assert.equal(found.length, 1, 'one sweep queue');
  return found[0];
}
const guardFunction = (t: Template): Json => Object.values(t.findResources('AWS::Lambda::Function'))
  .find((f) => f.Properties.Description?.startsWith('invokeguard: keeps'));
const roleStatements = (t: Template): Json[] => Object.values(t.findResources('AWS::IAM::Role'))
  .filter((r) => r.Properties.Policies?.[0]?.PolicyName === 'invokeguard')
  .flatMap((r) => r.Properties.Policies[0].PolicyDocument.Statement);

test('the single-account guard keeps its in-process sweep by default: no sweep queue, no event source, no env var', () => {
  const t = guardTemplate();
  assert.equal(queues(t).length, 1, 'only the rules\' dead-letter queue');
  t.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  assert.equal(guardFunction(t).Properties.Environment.Variables[SWEEP_QUEUE_URL_ENV], undefined);
  assert.equal(guardFunction(t).Properties.ReservedConcurrentExecutions, 2);
  assert.ok(!roleStatements(t).some((s) => String(s.Action).includes('sqs:')));
});

test('the hub fans its sweep out: a FIFO queue, encrypted, SSL only, content-based dedup off, with a FIFO dead-letter queue', () => {
  const t = hubTemplate();
  const [queueId, queue] = sweepQueue(t);
  assert.equal(queue.Properties.FifoQueue, true);
  assert.equal(queue.Properties.ContentBasedDeduplication, false);
  assert.equal(queue.Properties.SqsManagedSseEnabled, true);
  // 6 x the guard's default 5-minute timeout.
  assert.equal(queue.Properties.VisibilityTimeout, 1800);
  const dlqId = queue.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
  assert.equal(queue.Properties.RedrivePolicy.maxReceiveCount, 3);
  const dlq = t.toJSON().Resources[dlqId];
  assert.equal(dlq.Properties.FifoQueue, true);
  assert.equal(dlq.Properties.SqsManagedSseEnabled, true);
  for (const id of [queueId, dlqId]) {
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: id }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  }
  // Its alarm on pairs left in the dead-letter queue notifies the alerts topic.
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1,
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
    AlarmActions: [{ Ref: Match.stringLikeRegexp('NotificationsTopic') }],
  });
});

test('the guard consumes the queue one pair per invocation, reporting partial failures, at most maxConcurrency at once', () => {
  const t = hubTemplate();
  const [queueId] = sweepQueue(t);
  const mappings = Object.values(t.findResources('AWS::Lambda::EventSourceMapping'));
  assert.equal(mappings.length, 1);
  const m = mappings[0].Properties;
  assert.deepEqual(m.EventSourceArn, { 'Fn::GetAtt': [queueId, 'Arn'] });
  assert.equal(m.BatchSize, 1);
  assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
  assert.deepEqual(m.ScalingConfig, { MaximumConcurrency: DEFAULT_SWEEP_MAX_CONCURRENCY });
  assert.equal(DEFAULT_SWEEP_MAX_CONCURRENCY, 40);
  const fn = guardFunction(t);
  assert.deepEqual(fn.Properties.Environment.Variables[SWEEP_QUEUE_URL_ENV], { Ref: queueId });
  // The consumers on top of the 2 the events have.
  assert.equal(fn.Properties.ReservedConcurrentExecutions, 42);

  const custom = hubTemplate({ sweepFanOut: { maxConcurrency: 50, visibilityTimeout: Duration.minutes(20), maxReceiveCount: 5 } });
  const [, q] = sweepQueue(custom);
  assert.equal(q.Properties.VisibilityTimeout, 1200);
  assert.equal(q.Properties.RedrivePolicy.maxReceiveCount, 5);
  custom.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 50 } });
  assert.equal(guardFunction(custom).Properties.ReservedConcurrentExecutions, 52);
  // The visibility timeout follows a longer guard timeout, within SQS's 12 hours.
  const [, long] = sweepQueue(hubTemplate({ timeout: Duration.minutes(15) }));
  assert.equal(long.Properties.VisibilityTimeout, 5400);
});

test('the guard may send to and consume the sweep queue only, in its inline policy', () => {
  const t = hubTemplate();
  const [queueId] = sweepQueue(t);
  const statements = roleStatements(t);
  const sqsStatements = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('sqs:')));
  assert.deepEqual(sqsStatements, [
    {
      Sid: 'ConsumeSweepQueue', Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
    },
    { Sid: 'PlanSweep', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } },
  ]);
  // No separate AWS::IAM::Policy from the event source's grant.
  t.resourceCountIs('AWS::IAM::Policy', 0);
});

test('the planner\'s failures to queue pairs are a metric with an alarm', () => {
  const t = hubTemplate();
  t.hasResourceProperties('AWS::Logs::MetricFilter', {
    FilterPattern: '{ $.message = "sweep-plan" && $.failed > 0 }',
    MetricTransformations: [{ MetricNamespace: 'Invokeguard', MetricName: 'SweepPlanFailures', MetricValue: '$.failed' }],
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'Invokeguard', MetricName: 'SweepPlanFailures', Statistic: 'Sum', Threshold: 1,
    AlarmActions: [{ Ref: Match.stringLikeRegexp('NotificationsTopic') }],
  });
  // The per-pair sweep lines feed the same IncompleteSweeps alarm as an in-process sweep's.
  t.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.message = "sweep" && $.incomplete IS TRUE }' });
});

test('a single-account guard may fan out too, and the hub may turn it off', () => {
  const single = guardTemplate({ sweepFanOut: true });
  sweepQueue(single);
  single.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
  const off = hubTemplate({ sweepFanOut: false });
  assert.equal(queues(off).filter(([, q]) => q.Properties.RedrivePolicy).length, 0);
  off.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  assert.equal(guardFunction(off).Properties.ReservedConcurrentExecutions, 2);
});

test('sweepFanOut options out of range fail synth saying which and why', () => {
  const cases: [Partial<InvokeGuardProps>, RegExp][] = [
    [{ sweepFanOut: { maxConcurrency: 1 } }, /sweepFanOut\.maxConcurrency must be an integer from 2 to 1000 .*got 1\./],
    [{ sweepFanOut: { maxConcurrency: 1001 } }, /sweepFanOut\.maxConcurrency must be an integer from 2 to 1000/],
    [{ sweepFanOut: { visibilityTimeout: Duration.minutes(4) } }, /visibilityTimeout \(240 s\) must be at least the guard's timeout \(300 s\)/],
    [{ sweepFanOut: { visibilityTimeout: Duration.hours(13) } }, /visibilityTimeout \(46800 s\) must be at most 12 hours/],
    [{ sweepFanOut: { maxReceiveCount: 0 } }, /maxReceiveCount must be an integer from 1 to 1000, got 0/],
    [{ sweepFanOut: true, reservedConcurrentExecutions: 40 }, /reservedConcurrentExecutions \(40\) must exceed sweepFanOut\.maxConcurrency \(40\)/],
  ];
  for (const [props, message] of cases) {
    assert.throws(() => guardStack(props), (e: Error) => message.test(e.message) && /^Error - /m.test(e.message), JSON.stringify(props));
  }
  // An explicit reserved concurrency above maxConcurrency is kept.
  assert.equal(guardFunction(guardTemplate({ sweepFanOut: { maxConcurrency: 5 }, reservedConcurrentExecutions: 6 })).Properties.ReservedConcurrentExecutions, 6);
});

test('AwsSolutionsChecks finds nothing unacknowledged with the sweep queue', () => {
  const findings = new AwsSolutionsChecks().validateScope(guardStack({ sweepFanOut: true })).violations
    .map((v) => `${v.ruleName} ${JSON.stringify(v.violatingResources.map((r) => r.locations))}`);
  assert.deepEqual(findings, []);
});
