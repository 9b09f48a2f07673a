import * as path from 'node:path';
import { Duration, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CLOUDTRAIL_COLUMNS } from './cloudtrail-columns';
import { InvokeguardCli } from './cli';
import { OrganizationTrailLogs, organizationTrailErrors, trailPartitions } from './trail-partitions';

/** The saved queries: name in the Athena console, `invokeguard athena-sql --query` value, description. */
export const SAVED_QUERIES: readonly { readonly name: string; readonly query: string; readonly description: string }[] = [
  {
    name: 'invocations-by-function-and-caller',
    query: 'by-caller',
    description: 'Invoke/InvokeFunctionUrl of each guarded function per caller: allowlisted or not, invocations, refused calls, first and last seen',
  },
  {
    name: 'invocations-outside-allowlist',
    query: 'outside-allowlist',
    description: 'Invocations of guarded functions by callers outside the allowlist (as the guard judges them), with count, first and last seen',
  },
  {
    name: 'resource-policy-changes',
    query: 'policy-changes',
    description: 'AddPermission, RemovePermission, PutResourcePolicy, DeleteResourcePolicy, Create/UpdateFunctionUrlConfig on guarded functions, newest first',
  },
];

export interface TrailAthenaProps {
  /**
   * The bucket the trail writes to (`AWSLogs/ACCOUNT/CloudTrail/REGION/yyyy/MM/dd/`, or an organization trail's
   * `AWSLogs/ORG_ID/ACCOUNT/...`; no key prefix).
   */
  readonly trailBucket: s3.IBucket;
  /**
   * The bucket is an organization trail's: the table reads these accounts and regions (partitions `account`, `region`
   * and `timestamp`) instead of the stack's own account and region.
   * @default - the stack's account and region
   */
  readonly organization?: OrganizationTrailLogs;
  /** The policies file the saved queries are generated from (already validated). */
  readonly policiesFile: string;

  /**
   * The CLI whose `athena-sql` writes the saved queries (`--policies FILE --query Q --database D --table T`, and
   * `--account A --region R` when the stack's are known); pass the guard's (`guard.cli`).
   * @default - `invokeguard` on PATH (`InvokeguardCli.onPath()`)
   */
  readonly cli?: InvokeguardCli;
  /** @default - a generated name (lower-case letters, digits and '_') */
  readonly databaseName?: string;
  /** @default 'cloudtrail_logs' */
  readonly tableName?: string;
  /** @default - a generated name */
  readonly workGroupName?: string;
  /** Folder of the saved queries in the Athena console. @default 'invokeguard' */
  readonly queryFolder?: string;
  /**
   * First day partition projection enumerates (`yyyy/MM/dd`); the range ends at NOW. Earlier days are never read.
   * @default '2026/01/01'
   */
  readonly projectionStartDate?: string;
  /** How long query results are kept. @default Duration.days(30) */
  readonly resultExpiration?: Duration;
  /** A query scanning more is cancelled. @default 10 GiB */
  readonly bytesScannedCutoffPerQuery?: number;
}

/**
 * Athena over the guard's trail: a Glue table of the trail's log files with partition projection (no crawler, no
 * MSCK REPAIR), a workgroup that enforces its encrypted, expiring results location, and saved queries generated
 * from the policies file by `invokeguard athena-sql`, so they judge callers the way the guard does.
 */
export class TrailAthena extends Construct {
  public readonly database: glue.CfnDatabase;
  public readonly table: glue.CfnTable;
  public readonly resultsBucket: s3.Bucket;
  public readonly workGroup: athena.CfnWorkGroup;
  public readonly namedQueries: athena.CfnNamedQuery[] = [];

  constructor(scope: Construct, id: string, props: TrailAthenaProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // Generated like CloudFormation's names (path and hash), in the characters Glue and Athena take.
    const databaseName = props.databaseName ?? Names.uniqueResourceName(this, { maxLength: 255, separator: '_' }).toLowerCase();
    const tableName = props.tableName ?? 'cloudtrail_logs';
    const start = props.projectionStartDate ?? '2026/01/01';
    checkProps(props, databaseName, tableName, start);

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: databaseName,
        description: 'invokeguard: the CloudTrail trail of the guarded functions, for Athena',
      },
    });

    const partitions = trailPartitions(stack, props.trailBucket.bucketName, start, props.organization);
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: stack.account,
      databaseName: this.database.ref,
      tableInput: {
        name: tableName,
        description: partitions.description,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          'EXTERNAL': 'TRUE',
          'classification': 'cloudtrail',
          ...partitions.projection,
        },
        partitionKeys: partitions.partitionKeys,
        storageDescriptor: {
          location: partitions.location,
          inputFormat: 'com.amazon.emr.cloudtrail.CloudTrailInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' },
          columns: [...CLOUDTRAIL_COLUMNS],
        },
      },
    });

    this.resultsBucket = new s3.Bucket(this, 'ResultsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{
        expiration: props.resultExpiration ?? Duration.days(30),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      }],
      // Deleting a non-empty bucket would fail the stack's deletion; results expire on their own.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.resultsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'The bucket holds only Athena query results, which expire after the lifecycle period; who ran which query '
        + 'is already recorded by CloudTrail (StartQueryExecution) and the workgroup\'s query history.',
    });

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName ?? Names.uniqueResourceName(this, { maxLength: 128 }),
      description: 'invokeguard: queries over the guard\'s CloudTrail trail',
      state: 'ENABLED',
      // Lets the stack delete the workgroup with its query history.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 10 * 1024 ** 3,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/results/`,
          expectedBucketOwner: stack.account,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const home = Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)
      ? [] : ['--account', stack.account, '--region', stack.region];
    const cli = props.cli ?? InvokeguardCli.onPath();
    const folder = props.queryFolder ?? 'invokeguard';
    for (const q of SAVED_QUERIES) {
      const sql = cli.athenaSql([
        '--policies', path.resolve(props.policiesFile), '--query', q.query, '--database', databaseName, '--table', tableName, ...home,
      ]);
      const named = new athena.CfnNamedQuery(this, `Query-${q.name}`, {
        name: `${folder}/${q.name}`,
        description: q.description,
        database: databaseName,
        workGroup: this.workGroup.ref,
        queryString: sql,
      });
      named.node.addDependency(this.table);
      this.namedQueries.push(named);
    }
  }
}

function checkProps(props: TrailAthenaProps, database: string, table: string, start: string): void {
  const errors: string[] = organizationTrailErrors(props.organization);
  for (const [what, value] of [['databaseName', database], ['tableName', table]]) {
    if (!/^[a-z0-9_]{1,255}$/.test(value)) {
      errors.push(`Error - ${what} "${value}" must be lower-case letters, digits and '_' (Glue and Athena names).`);
    }
  }
  const m = /^(\d{4})\/(\d{2})\/(\d{2})$/.exec(start);
  const valid = m && !Number.isNaN(Date.parse(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`))
    && new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`).toISOString().startsWith(`${m[1]}-${m[2]}-${m[3]}`);
  if (!valid) {
    errors.push(`Error - projectionStartDate "${start}" must be a date written yyyy/MM/dd.`);
  }
  const days = props.resultExpiration?.toDays();
  if (days !== undefined && days < 1) {
    errors.push('Error - resultExpiration must be at least one day.');
  }
  const cutoff = props.bytesScannedCutoffPerQuery;
  if (cutoff !== undefined && cutoff < 10_000_000) {
    errors.push('Error - bytesScannedCutoffPerQuery must be at least 10,000,000 bytes (Athena\'s minimum).');
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}
