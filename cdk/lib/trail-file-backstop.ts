import { RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { InvokeGuard } from './invoke-guard';
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

  /**
   * The guard: its function gets the dedup table's name, its role the reads, its log group the saved query (in its
   * query folder); the rule delivers to it like its other rules (`newTarget()`).
   */
  readonly guard: InvokeGuard;

  /**
   * Bus the rule listens on: where the bucket's S3 events arrive (a hub's bus, to which the log archive account
   * forwards them).
   * @default - the account's default bus
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Which log files' keys the rule matches, as wildcard patterns (`*` any characters), e.g. one per region of an
   * organization trail: `AWSLogs/o-abc/*` + `/CloudTrail/eu-west-1/*`. The guard may read every file under
   * `logFilePrefix` either way.
   * @default - every key under `logFilePrefix`
   */
  readonly logFileKeyPatterns?: readonly string[];

  /** @default - says it covers this account and region's log files */
  readonly description?: string;
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
    checkProps(props);
    const stack = Stack.of(this);
    const guard = props.guard;
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
    guard.function.addEnvironment(DEDUP_TABLE_ENV, this.dedupTable.tableName);

    const logFiles = props.bucket.arnForObjects(`${this.logFilePrefix}*`);
    guard.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadTrailLogFiles',
      actions: ['s3:GetObject'],
      resources: [logFiles],
    }));
    const key = props.encryptionKey ?? props.bucket.encryptionKey;
    if (key) {
      guard.addToRolePolicy(new iam.PolicyStatement({
        sid: 'DecryptTrailLogFiles',
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.${stack.urlSuffix}` } },
      }));
    }
    guard.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ClaimNotifications',
      // A conditional PutItem only: nothing reads, updates or deletes items (TTL expires them).
      actions: ['dynamodb:PutItem'],
      resources: [this.dedupTable.tableArn],
    }));
    Validations.of(guard.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceId(stack, logFiles)}]`,
      reason: `The guard reads ${readScope(props.logFilePrefix)}; `
        + 'their names carry the date and a random part, so they cannot be listed ahead.',
    });

    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.eventBus,
      description: props.description
        ?? 'New CloudTrail log files of this account and region: the guard reads the records EventBridge may not have delivered',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.bucket.bucketName] },
          // Digest files are under CloudTrail-Digest/, which this prefix leaves out.
          object: {
            key: props.logFileKeyPatterns
              ? props.logFileKeyPatterns.map((wildcard) => ({ wildcard }))
              : [{ prefix: this.logFilePrefix }],
          },
        },
      },
      targets: [guard.newTarget()],
    });

    new logs.CfnQueryDefinition(this, 'CatchesQuery', {
      name: `${guard.queryFolder}/${TRAIL_FILE_QUERY_NAME}`,
      // Raw text: logs.QueryString cannot place a filter after stats.
      queryString: TRAIL_FILE_QUERY,
      logGroupNames: [guard.logGroup.logGroupName],
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

/** Rejects key patterns the guard could not read the files of, or an empty list (the rule would match nothing). */
function checkProps(props: TrailFileBackstopProps): void {
  const errors: string[] = [];
  const patterns = props.logFileKeyPatterns;
  if (patterns !== undefined && patterns.length === 0) {
    errors.push('Error - logFileKeyPatterns lists no pattern; leave it out to match every log file under logFilePrefix.');
  }
  const prefix = props.logFilePrefix;
  if (patterns && prefix !== undefined && !Token.isUnresolved(prefix)) {
    for (const pattern of patterns) {
      if (!Token.isUnresolved(pattern) && !pattern.startsWith(prefix)) {
        errors.push(`Error - logFileKeyPatterns: "${pattern}" is not under logFilePrefix "${prefix}", whose files alone the guard may read.`);
      }
    }
  }
  if (patterns && prefix === undefined) {
    errors.push('Error - logFileKeyPatterns needs logFilePrefix (the files the guard may read), which the patterns narrow.');
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}
