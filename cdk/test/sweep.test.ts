import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { sweepScheduleError } from '../lib/sweep-schedule';
import { guardTemplate, NO_BUNDLING } from './helpers';

const scheduleRules = (props: Parameters<typeof guardTemplate>[0] = {}) =>
  Object.values(guardTemplate(props).findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: Match.anyValue() } }));

test('the sweep runs every hour by default, on the default bus, with the standard Scheduled Event as input', () => {
  const template = guardTemplate();
  const rules = template.findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: Match.anyValue() } });
  assert.equal(Object.keys(rules).length, 1);
  const [rule] = Object.values(rules);
  assert.equal(rule.Properties.ScheduleExpression, 'rate(1 hour)');
  assert.equal(rule.Properties.EventPattern, undefined);
  assert.equal(rule.Properties.EventBusName, undefined);
  assert.equal(rule.Properties.State, 'ENABLED');
  const [target] = rule.Properties.Targets;
  // No Input/InputPath/InputTransformer: the guard gets `source: aws.events`, `detail-type: Scheduled Event`.
  assert.deepEqual(Object.keys(target).sort(), ['Arn', 'DeadLetterConfig', 'Id', 'RetryPolicy']);
  assert.equal(template.toJSON().Resources[target.Arn['Fn::GetAtt'][0]].Type, 'AWS::Lambda::Function');
  assert.deepEqual(target.RetryPolicy, { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 });
});

test('sweepSchedule takes any rate or cron expression, and off removes the rule', () => {
  for (const expression of ['rate(15 minutes)', 'rate(1 day)', 'cron(0 3 * * ? *)', 'cron(0/30 8-18 ? * MON-FRI *)']) {
    assert.deepEqual(scheduleRules({ sweepSchedule: expression }).map((r) => r.Properties.ScheduleExpression), [expression]);
  }
  const template = guardTemplate({ sweepSchedule: 'off' });
  template.resourcePropertiesCountIs('AWS::Events::Rule', { ScheduleExpression: Match.anyValue() }, 0);
  // The Invoke and change rules stay.
  template.resourcePropertiesCountIs('AWS::Events::Rule', { EventPattern: Match.objectLike({ source: ['aws.lambda'] }) }, 2);
});

test('an invalid sweepSchedule fails synth with what is wrong and what is accepted', () => {
  const cases: [string, RegExp][] = [
    ['hourly', /sweepSchedule "hourly" is not a schedule: use "rate\(N minute\|minutes.*"cron\(minutes hours .*or "off"/],
    ['rate(1 hours)', /"rate\(1 hours\)": the unit must be singular for 1 and plural otherwise/],
    ['rate(2 hour)', /"rate\(2 hour\)": the unit must be singular/],
    ['rate(0 minutes)', /"rate\(0 minutes\)": a rate must be at least 1/],
    ['rate(5 seconds)', /"rate\(5 seconds\)" is not a schedule/],
    ['cron(0 3 * * *)', /a cron expression has 6 fields .* got 5/],
    ['cron(0 3 * * * *)', /exactly one of day-of-month and day-of-week must be "\?"/],
    ['cron(0 3 ? * ? *)', /exactly one of day-of-month and day-of-week must be "\?"/],
    ['cron(0 3; * * ? *)', /cron field hours "3;" is not valid/],
    ['Off', /"Off" is not a schedule/],
    ['false', /"false" is not a schedule/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => guardTemplate({ sweepSchedule: value }), (e: Error) => message.test(e.message) && /^Error - /m.test(e.message),
      `sweepSchedule ${value}`);
  }
  assert.equal(sweepScheduleError('off'), undefined);
  assert.equal(sweepScheduleError('rate(1 minute)'), undefined);
});

// bin/app.ts wires the context key: run it as the CDK CLI would (CDK_OUTDIR, CDK_CONTEXT_JSON), without
// bundling and with a stand-in validator, so the real app's context handling and cdk-nag run in seconds.
async function synthApp(context: Record<string, unknown>): Promise<{ status: number | null; stderr: string; template?: any }> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-app-'));
  const cdkDir = path.join(__dirname, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(cdkDir, 'bin', 'app.ts')], {
    cwd: cdkDir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify({ ...NO_BUNDLING, policiesFile: 'cdk/test/fixtures/invokers.json', guardCodeDir: 'cdk/test/fixtures/lambda', ...context }),
      INVOKEGUARD_VALIDATOR: 'true',
    },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const [status] = await once(child, 'close') as [number | null];
  const file = path.join(outdir, 'Invokeguard.template.json');
  return { status, stderr, template: fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined };
}

const scheduleExpressions = (template?: any): string[] => Object.values<any>(template?.Resources ?? {})
  .filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties.ScheduleExpression)
  .map((r) => r.Properties.ScheduleExpression);

test('the app passes the sweepSchedule context on: a custom schedule, off, and an invalid value', async () => {
  // In parallel: each run loads aws-cdk-lib and cdk-nag afresh. The default is covered by the construct tests.
  const [custom, off, invalid] = await Promise.all([
    synthApp({ sweepSchedule: 'cron(0 3 * * ? *)' }), synthApp({ sweepSchedule: 'off' }), synthApp({ sweepSchedule: 'every hour' }),
  ]);
  assert.equal(custom.status, 0, custom.stderr);
  assert.deepEqual(scheduleExpressions(custom.template), ['cron(0 3 * * ? *)']);
  assert.equal(off.status, 0, off.stderr);
  assert.ok(off.template, 'the app wrote no template');
  assert.deepEqual(scheduleExpressions(off.template), []);
  assert.notEqual(invalid.status, 0);
  assert.equal(invalid.template, undefined);
  assert.match(invalid.stderr, /Error - sweepSchedule "every hour" is not a schedule/);
});
