import { RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { nagResourceId } from './nag-acknowledgements';

/** The guard's environment variable naming the dedup table (unset: every violation is notified, per input). */
export const DEDUP_TABLE_ENV = 'INVOKEGUARD_DEDUP_TABLE';

/** Name (under the guard's query folder) of the saved query listing what the trail files caught. */
export const TRAIL_FILE_QUERY_NAME = 'trail-file-catches';

/**
 * Records whose first `decision` line came from a trail file (`input: trail-file`): EventBridge never
 * delivered them, or delivered them after the file was read. Every guarded record of a file gets a
 * trail-file decision line, also the ones EventBridge delivered minutes earlier, so the query groups the
 * lines of each record (CloudTrail `eventId`) and keeps those whose earliest line is the trail file's.
 * A record whose EventBridge line falls just before the chosen time range also shows; widen the range
 * by the trail's delivery delay (about 15 minutes) when that matters. `caller.*` is set on Invoke
 * records, `actor` on policy changes.
 */
export const TRAIL_FILE_QUERY = [
  'filter message = "decision" and (input = "invoke" or input = "change" or input = "trail-file")',
  'stats earliest(input) as firstInput, count(*) as decisions, earliest(@timestamp) as firstSeen, latest(@timestamp) as lastSeen, '
    + 'latest(verdict) as lastVerdict, latest(caller.kind) as callerKind, latest(caller.principal) as callerPrincipal, '
    + 'latest(caller.sourceArn) as callerSourceArn, latest(actor) as changedBy, latest(changeEvent) as changeName by function, eventId',
  'filter firstInput = "trail-file"',
  'sort firstSeen desc',
].join('\n| ');

export interface TrailFileBackstopProps {
  /** The trail's bucket. EventBridge notifications are turned on here when it is a bucket of this app. */
  readonly bucket: s3.IBucket;

  /**
   * Key prefix of the trail's log files for this account and region.
   * @default `AWSLogs/<account>/CloudTrail/<region>/` (an organization trail writes `AWSLogs/<org id>/<account>/...`)
   */
  readonly logFilePrefix?: string;

  /**
   * Key the log files are encrypted with (the bucket's SSE-KMS key, or the trail's KMS key); the guard may decrypt with it.
   * @default - the bucket's `encryptionKey`, if any
   */
  readonly encryptionKey?: kms.IKey;

  /** The guard: it gets the dedup table's name in its environment. */
  readonly guard: lambda.Function;

  /** The guard role's inline policy document; the backstop's permissions are added to it. */
  readonly guardPolicy: iam.PolicyDocument;

  /** How the rule delivers to the guard: the same retry policy and dead-letter queue as the other rules. */
  readonly target: events.IRuleTarget;

  /** The guard's log group, which the saved query reads. */
  readonly logGroup: logs.ILogGroup;

  /** Logs Insights folder of the saved query (the guard's other queries are there). */
  readonly queryFolder: string;
}

/**
 * The trail-file backstop. CloudTrail delivers records to EventBridge on a best-effort basis, but always writes
 * them to the trail's S3 log files; each new log file of this account and region is sent to the guard as an S3
 * `Object Created` event on the default bus, and the guard reads it (GetObject) and judges its records like the
 * EventBridge ones (`input: trail-file`). A violation seen by both inputs is notified once: the guard claims its
 * CloudTrail eventID in the dedup table first (a conditional PutItem).
 *
 * S3 events through EventBridge, not S3 event notifications: the rule reuses the guard's retry policy and
 * dead-letter queue, filters on the key prefix, and the bucket's single notification configuration (which an
 * existing trail bucket may already use) stays free.
 *
 * Only the home region's files are sent: the trail is multi-region, but the guard only acts on functions of its
 * own region, and CloudTrail writes the Invoke and policy-change records of a function to that region's files.
 * Every other region's file would cost an invocation (of the guard's 2 reserved) and a GetObject for nothing.
 *
 * For an existing trail (`createTrail: false`) turn on "Send notifications to Amazon EventBridge" on its bucket
 * (`aws s3api put-bucket-notification-configuration --bucket B --notification-configuration
 * '{"EventBridgeConfiguration": {}}'`, which replaces the bucket's other notifications: merge them first), then
 * create this construct with `s3.Bucket.fromBucketName(...)` (and `logFilePrefix`/`encryptionKey` for an organization
 * trail or a KMS-encrypted one): the same rule, dedup table and permissions follow.
 */
export class TrailFileBackstop extends Construct {
  public readonly rule: events.Rule;
  /** Claimed eventIDs of notified violations; items expire a day after (`expiresAt`). */
  public readonly dedupTable: dynamodb.Table;
  public readonly logFilePrefix: string;

  constructor(scope: Construct, id: string, props: TrailFileBackstopProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.logFilePrefix = props.logFilePrefix ?? `AWSLogs/${stack.account}/CloudTrail/${stack.region}/`;

    if (props.bucket instanceof s3.Bucket) {
      // The native CloudFormation property, not the L2's `eventBridgeEnabled: true`: that one deploys a
      // custom resource (a Python Lambda with an AWSLambdaBasicExecutionRole role) to call
      // PutBucketNotificationConfiguration. Do not also add S3 event notifications to this bucket through
      // the L2: its custom resource would overwrite this configuration.
      const cfnBucket = props.bucket.node.defaultChild as s3.CfnBucket;
      cfnBucket.notificationConfiguration = {
        ...(cfnBucket.notificationConfiguration as s3.CfnBucket.NotificationConfigurationProperty | undefined),
        eventBridgeConfiguration: { eventBridgeEnabled: true },
      };
    }

    this.dedupTable = new dynamodb.Table(this, 'DedupTable', {
      partitionKey: { name: 'eventId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      // Encrypted at rest with an AWS-owned key: the items are CloudTrail eventIDs and expiry times.
      encryption: dynamodb.TableEncryption.DEFAULT,
      // Deleted with the stack: it only holds day-old dedup keys. Losing them costs at most one repeated
      // notification per violation seen in the last day; it is no record of anything (the log lines are).
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.dedupTable).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason: 'The table only holds the eventIDs of violations notified in the last day, to notify each once; '
        + 'restoring them is worth nothing (a lost table means at most one repeated notification), so no point-in-time recovery.',
    });
    props.guard.addEnvironment(DEDUP_TABLE_ENV, this.dedupTable.tableName);

    const logFiles = props.bucket.arnForObjects(`${this.logFilePrefix}*`);
    props.guardPolicy.addStatements(new iam.PolicyStatement({
      sid: 'ReadTrailLogFiles',
      actions: ['s3:GetObject'],
      resources: [logFiles],
    }));
    const key = props.encryptionKey ?? props.bucket.encryptionKey;
    if (key) {
      props.guardPolicy.addStatements(new iam.PolicyStatement({
        sid: 'DecryptTrailLogFiles',
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.${stack.urlSuffix}` } },
      }));
    }
    props.guardPolicy.addStatements(new iam.PolicyStatement({
      sid: 'ClaimNotifications',
      // A conditional PutItem only: nothing reads, updates or deletes items (TTL expires them).
      actions: ['dynamodb:PutItem'],
      resources: [this.dedupTable.tableArn],
    }));
    Validations.of(props.guard.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceId(stack, logFiles)}]`,
      reason: `The guard reads ${readScope(props.logFilePrefix)}; `
        + 'their names carry the date and a random part, so they cannot be listed ahead.',
    });

    this.rule = new events.Rule(this, 'Rule', {
      description: 'New CloudTrail log files of this account and region: the guard reads the records EventBridge may not have delivered',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.bucket.bucketName] },
          // Digest files are under CloudTrail-Digest/, which this prefix leaves out.
          object: { key: [{ prefix: this.logFilePrefix }] },
        },
      },
      targets: [props.target],
    });

    new logs.CfnQueryDefinition(this, 'CatchesQuery', {
      name: `${props.queryFolder}/${TRAIL_FILE_QUERY_NAME}`,
      // Raw text: logs.QueryString cannot place a filter after stats.
      queryString: TRAIL_FILE_QUERY,
      logGroupNames: [props.logGroup.logGroupName],
    });
  }
}

/**
 * Which log files the guard may read, for the acknowledgement of the wildcard: its own account and region's (the
 * default prefix), or those under the prefix it was given, e.g. a hub's `AWSLogs/<org id>/` over an organization trail.
 */
function readScope(logFilePrefix: string | undefined): string {
  if (logFilePrefix === undefined) {
    return 'the trail log files of this account and region only (AWSLogs/ACCOUNT/CloudTrail/REGION/*)';
  }
  if (Token.isUnresolved(logFilePrefix)) {
    return 'only the trail log files under the log file prefix it was given';
  }
  if (/^AWSLogs\/o-[a-z0-9]+\/$/.test(logFilePrefix)) {
    return `only the organization trail's log files (${logFilePrefix}*), of every account of the organization: each new `
      + 'log file of the member regions is sent to it, and it reads each one to find the records of the functions it guards';
  }
  return `only the trail log files under ${logFilePrefix}*`;
}
