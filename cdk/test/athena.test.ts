import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { InvokeguardCli } from '../lib/cli';
import { CLOUDTRAIL_COLUMNS } from '../lib/cloudtrail-columns';
import { REPO_ROOT, ACCEPT_ALL, APP_ATHENA, RUST_CLI, STUB_CLI } from './helpers';
import { SAVED_QUERIES, TrailAthena } from '../lib/trail-athena';
import { OrganizationTrailLogs } from '../lib/trail-partitions';
import { guardStack, NO_BUNDLING, POLICIES } from './helpers';

const DDL = path.join(REPO_ROOT, 'tests', 'fixtures', 'athena_cloudtrail_partition_projection_ddl_awsdocs_2023.sql');

/** The columns of AWS's documented CloudTrail DDL: top-level `name TYPE` entries of the column list. */
function ddlColumns(): { name: string; type: string }[] {
  const ddl = fs.readFileSync(DDL, 'utf8');
  const body = ddl.slice(ddl.indexOf('(') + 1, ddl.indexOf('PARTITIONED BY'));
  const list = body.slice(0, body.lastIndexOf(')'));
  const entries: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of list) {
    if (ch === '<') depth += 1;
    if (ch === '>') depth -= 1;
    if (ch === ',' && depth === 0) {
      entries.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  entries.push(current);
  return entries.map((e) => {
    const [name, ...type] = e.trim().split(/\s+/);
    return { name, type: type.join('') };
  });
}

const norm = (type: string) => type.replace(/\s+/g, '').toLowerCase();
const template = (athena?: Parameters<typeof guardStack>[3], env?: Parameters<typeof guardStack>[2]) =>
  Template.fromStack(guardStack({}, new App({ context: NO_BUNDLING }), env, athena));

test('the Glue table has the documented CloudTrail columns and projects one partition per day, no crawler', () => {
  const ddl = ddlColumns();
  assert.equal(ddl.length, 24);
  assert.deepEqual(CLOUDTRAIL_COLUMNS.map((c) => [c.name, norm(c.type!)]), ddl.map((c) => [c.name.toLowerCase(), norm(c.type)]));

  const t = template();
  t.resourceCountIs('AWS::Glue::Crawler', 0);
  t.hasResourceProperties('AWS::Glue::Database', { CatalogId: '123456789012', DatabaseInput: { Name: 'invokeguard' } });
  const location = (suffix: string) => ({
    'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('InvokeTrailBucket') }, `/AWSLogs/123456789012/CloudTrail/eu-west-1${suffix}`]],
  });
  t.hasResourceProperties('AWS::Glue::Table', {
    CatalogId: '123456789012',
    DatabaseName: { Ref: Match.stringLikeRegexp('TrailAthenaDatabase') },
    TableInput: {
      Name: 'cloudtrail_logs',
      TableType: 'EXTERNAL_TABLE',
      PartitionKeys: [{ Name: 'timestamp', Type: 'string' }],
      Parameters: {
        'EXTERNAL': 'TRUE',
        'classification': 'cloudtrail',
        'projection.enabled': 'true',
        'projection.timestamp.type': 'date',
        'projection.timestamp.format': 'yyyy/MM/dd',
        'projection.timestamp.range': '2026/01/01,NOW',
        'projection.timestamp.interval': '1',
        'projection.timestamp.interval.unit': 'DAYS',
        'storage.location.template': location('/${timestamp}'),
      },
      StorageDescriptor: {
        Location: location(''),
        InputFormat: 'com.amazon.emr.cloudtrail.CloudTrailInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
        SerdeInfo: { SerializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' },
        Columns: CLOUDTRAIL_COLUMNS.map((c) => ({ Name: c.name, Type: c.type })),
      },
    },
  });
});

test('without a fixed account and region the location uses the stack\'s pseudo parameters', () => {
  const t = template(undefined, {} as { account: string; region: string });
  t.hasResourceProperties('AWS::Glue::Table', {
    TableInput: {
      Parameters: {
        'storage.location.template': {
          'Fn::Join': ['', ['s3://', { Ref: Match.anyValue() }, '/AWSLogs/', { Ref: 'AWS::AccountId' }, '/CloudTrail/', { Ref: 'AWS::Region' }, '/${timestamp}']],
        },
      },
    },
  });
});

test('the workgroup enforces an encrypted results location in a private bucket that expires results', () => {
  const t = template({ ...APP_ATHENA, resultExpiration: undefined });
  t.hasResourceProperties('AWS::Athena::WorkGroup', {
    Name: 'invokeguard',
    State: 'ENABLED',
    RecursiveDeleteOption: true,
    WorkGroupConfiguration: {
      EnforceWorkGroupConfiguration: true,
      PublishCloudWatchMetricsEnabled: true,
      BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
      EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
      ResultConfiguration: {
        OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('TrailAthenaResultsBucket') }, '/results/']] },
        ExpectedBucketOwner: '123456789012',
        EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
      },
    },
  });
  const [id] = Object.keys(t.findResources('AWS::S3::Bucket', { Properties: { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30 })] } } }));
  assert.match(id, /^TrailAthenaResultsBucket/);
  t.hasResource('AWS::S3::Bucket', {
    DeletionPolicy: 'Retain',
    Properties: {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 30, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }] },
    },
  });
  t.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: id },
    PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] },
  });
});

test('three saved queries, generated by invokeguard athena-sql with the stack\'s table, account and region', () => {
  const t = template();
  t.resourceCountIs('AWS::Athena::NamedQuery', 3);
  for (const q of SAVED_QUERIES) {
    t.hasResourceProperties('AWS::Athena::NamedQuery', {
      Name: `invokeguard/${q.name}`,
      Database: 'invokeguard',
      WorkGroup: { Ref: Match.stringLikeRegexp('TrailAthenaWorkGroup') },
      QueryString: `SELECT 1 -- stand-in: --policies ${POLICIES} --query ${q.query} --database invokeguard --table cloudtrail_logs `
        + '--account 123456789012 --region eu-west-1',
    });
  }
  assert.deepEqual(SAVED_QUERIES.map((q) => q.name),
    ['invocations-by-function-and-caller', 'invocations-outside-allowlist', 'resource-policy-changes']);
  // Env-agnostic: names then mean the account and region each record was logged in (the table's own).
  const agnostic = template(undefined, {} as { account: string; region: string });
  agnostic.hasResourceProperties('AWS::Athena::NamedQuery', {
    QueryString: Match.stringLikeRegexp('--query outside-allowlist --database invokeguard --table cloudtrail_logs$'),
  });
});

test('names, start date and limits are options; bad ones are rejected', () => {
  const t = template({
    databaseName: 'audit', tableName: 'trail', workGroupName: 'sec', queryFolder: 'guard',
    projectionStartDate: '2025/06/01', bytesScannedCutoffPerQuery: 50_000_000,
  });
  t.hasResourceProperties('AWS::Glue::Table', { TableInput: { Name: 'trail', Parameters: Match.objectLike({ 'projection.timestamp.range': '2025/06/01,NOW' }) } });
  t.hasResourceProperties('AWS::Athena::WorkGroup', { Name: 'sec', WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 50_000_000 }) });
  t.hasResourceProperties('AWS::Athena::NamedQuery', { Name: 'guard/invocations-outside-allowlist', Database: 'audit', QueryString: Match.stringLikeRegexp('--database audit --table trail') });
  assert.throws(() => template({ projectionStartDate: '2025-06-01' }), /projectionStartDate "2025-06-01" must be a date written yyyy\/MM\/dd/);
  assert.throws(() => template({ projectionStartDate: '2025/02/30' }), /projectionStartDate/);
  assert.throws(() => template({ tableName: 'Trail-Logs' }), /tableName "Trail-Logs" must be lower-case/);
  assert.throws(() => template({ bytesScannedCutoffPerQuery: 1000 }), /at least 10,000,000 bytes/);
  const failing = InvokeguardCli.fromCommands({ validate: ACCEPT_ALL, athenaSql: ['false'] });
  assert.throws(() => guardStack({ cli: failing }), /`false --policies .* failed \(exit code 1\); synth stops here/);
});

test('an organization trail\'s table needs at least one account, as account ids, and one region', () => {
  const orgTable = (organization: OrganizationTrailLogs) => {
    const stack = new Stack(new App(), 'Org', { env: { account: '999999999999', region: 'eu-west-1' } });
    new TrailAthena(stack, 'TrailAthena', {
      trailBucket: s3.Bucket.fromBucketName(stack, 'Bucket', 'org-trail'), policiesFile: POLICIES, cli: STUB_CLI, organization,
    });
    return Template.fromStack(stack);
  };
  const ok = { organizationId: 'o-a1b2c3d4e5', accounts: ['111111111111'], regions: ['eu-west-1'] };
  orgTable(ok).hasResourceProperties('AWS::Glue::Table', { TableInput: { Parameters: Match.objectLike({ 'projection.account.values': '111111111111' }) } });
  assert.throws(() => orgTable({ ...ok, accounts: [] }), /organization.accounts lists no account/);
  assert.throws(() => orgTable({ ...ok, accounts: ['1111'] }), /"1111" is not a 12-digit account id/);
  assert.throws(() => orgTable({ ...ok, accounts: ['111111111111', '111111111111'] }), /lists an account twice/);
  assert.throws(() => orgTable({ ...ok, regions: [] }), /organization.regions lists no region/);
});

test('athena: false, or no trail, creates no Glue or Athena resources', () => {
  for (const t of [template(false), Template.fromStack(guardStack({ createTrail: false }))]) {
    t.resourceCountIs('AWS::Glue::Database', 0);
    t.resourceCountIs('AWS::Glue::Table', 0);
    t.resourceCountIs('AWS::Athena::WorkGroup', 0);
    t.resourceCountIs('AWS::Athena::NamedQuery', 0);
  }
});

// The real Rust CLI; scripts/cdk-test.sh builds it first and sets this variable, so a plain `npm test` stays fast.
const rust = process.env.INVOKEGUARD_TEST_RUST_VALIDATOR === '1';
test('with the real CLI, each saved query is exactly what invokeguard athena-sql prints', { skip: !rust && 'set INVOKEGUARD_TEST_RUST_VALIDATOR=1' }, () => {
  {
    const t = Template.fromStack(guardStack({ cli: RUST_CLI }));
    for (const q of SAVED_QUERIES) {
      const args = ['run', '--quiet', '--manifest-path', path.join(REPO_ROOT, 'Cargo.toml'), '--bin', 'invokeguard', '--',
        'athena-sql', '--policies', POLICIES, '--query', q.query, '--database', 'invokeguard', '--table', 'cloudtrail_logs',
        '--account', '123456789012', '--region', 'eu-west-1'];
      const direct = spawnSync('cargo', args, { encoding: 'utf8' });
      assert.equal(direct.status, 0, direct.stderr);
      t.hasResourceProperties('AWS::Athena::NamedQuery', { Name: `invokeguard/${q.name}`, QueryString: direct.stdout });
    }
    const outside = Object.values(t.findResources('AWS::Athena::NamedQuery'))
      .map((r) => r.Properties.QueryString as string).find((s) => s.includes('outside the allowlist'))!;
    // The fixture's allowlist, in the guard's terms: the partner account, the S3 source, the ARN-keyed function.
    assert.match(outside, /FROM "invokeguard"\."cloudtrail_logs"/);
    assert.match(outside, /caller_account = '111122223333'/);
    assert.match(outside, /regexp_like\(source_arn, '\^arn:aws:s3:::uploads\$'\)/);
    assert.match(outside, /WHEN function_arn = 'arn:aws:lambda:eu-west-1:123456789012:function:Billing'/);
    assert.match(outside, /WHEN function_arn = 'arn:aws:lambda:eu-west-1:123456789012:function:BlogFunction' THEN 'BlogFunction'/);
    assert.match(outside, /WHERE NOT refused AND NOT allowlisted/);
  }
});
