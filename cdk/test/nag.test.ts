import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { guardStack, NO_BUNDLING } from './helpers';

const findings = (props: Parameters<typeof guardStack>[0] = {}) =>
  new AwsSolutionsChecks().validateScope(guardStack(props)).violations.map((v) => v.ruleName);

test('AwsSolutionsChecks finds nothing unacknowledged, with or without the trail', () => {
  assert.deepEqual(findings(), []);
  assert.deepEqual(findings({ createTrail: false }), []);
  assert.deepEqual(findings({ alertEmail: 'security@example.com', mode: 'report' }), []);
});

test('every acknowledgement names its finding exactly and gives a reason', () => {
  const stack = guardStack();
  const acks = stack.node.findAll().flatMap((c) =>
    c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => m.data));
  // Stored as { 'Annotation::<finding id>': reason }.
  const ids = acks.flatMap((a) => Object.entries(a as Record<string, string>)).map(([key, reason]) => {
    const id = key.replace(/^Annotation::/, '');
    assert.ok(reason.length > 40, `acknowledgement ${id} needs a real reason`);
    return id;
  });
  assert.deepEqual(new Set(ids), new Set([
    'AwsSolutions-S1',
    'AwsSolutions-SQS3',
    'AwsSolutions-DDB3',
    'AwsSolutions-IAM5[Resource::<InvokeGuardInvokeTrailBucketBBF82AA5.Arn>/AWSLogs/123456789012/CloudTrail/eu-west-1/*]',
    'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:eu-west-1:123456789012:function:BlogFunction:*]',
    'AwsSolutions-IAM5[Resource::arn:aws:lambda:eu-west-1:123456789012:function:Billing:*]',
  ]));
});

test('synth with the AwsSolutions plugin, as bin/app.ts registers it, succeeds and writes the report', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-nag-'));
  const app = new App({ outdir, context: NO_BUNDLING });
  guardStack({}, app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  assert.deepEqual(report.pluginReports.filter((r: { conclusion: string }) => r.conclusion !== 'success'), []);
});
