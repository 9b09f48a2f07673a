import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { alertOn, METRIC_NAMESPACE } from './guard-alarms';

/** The guard's environment variable holding the sweep queue's URL: the scheduled sweep then plans, and the queue sweeps. */
export const SWEEP_QUEUE_URL_ENV = 'INVOKEGUARD_SWEEP_QUEUE_URL';

/**
 * Pairs swept at once unless `maxConcurrency` says otherwise. Measured (`scripts/bench-org.sh --fan-out`, 200 accounts x
 * 20 functions in moto): a pair takes its budget's pace, 3.1 Lambda calls per function at 7 requests/s, so 44 s for 100
 * functions, 56 s with the emulator saturated by 40 consumers. 1,000 pairs of 100 functions / 40 consumers = 25 rounds
 * of 44 to 56 s: 18 to 23 minutes; even at twice that per pair (cold starts, AssumeRole, retries) 37 to 47 minutes,
 * within the hourly schedule. 20 would take 37 to 47 minutes at the measured pace. Each pair is another account or region,
 * with its own Lambda quota, so more at once put no more than one pair's load on any account and region; the cost is
 * the hub's own concurrency (reserved: this + 2).
 */
export const DEFAULT_SWEEP_MAX_CONCURRENCY = 40;

/** How often a pair is received before it goes to the sweep dead-letter queue unless `maxReceiveCount` says otherwise. */
export const DEFAULT_SWEEP_MAX_RECEIVE_COUNT = 3;

/** AWS's visibility timeout ceiling, and the event source's `maxConcurrency` range. */
const MAX_VISIBILITY_TIMEOUT = Duration.hours(12);
export const SWEEP_MAX_CONCURRENCY_RANGE = [2, 1000] as const;

/**
 * Matches the planner's `sweep-plan` lines (one per scheduled sweep) that could not send some pairs' messages
 * (log-line contract: `failed` counts them; those pairs are not swept this round). The metric's value is `$.failed`.
 */
export const SWEEP_PLAN_FAILED_PATTERN = '{ $.message = "sweep-plan" && $.failed > 0 }';

/** How the sweep fans out over the (account, region) pairs of the policies file. */
export interface SweepFanOutOptions {
  /**
   * Pairs swept at once: the queue's event source `maxConcurrency` (2 to 1,000). The guard's reserved concurrency must
   * exceed it (its default does), so the Invoke and change events are never throttled by a sweep.
   * @default 40 (1,000 pairs of 100 functions in 18 to 23 minutes, measured pace)
   */
  readonly maxConcurrency?: number;

  /**
   * How long a received pair stays invisible: at least the guard's timeout (AWS requires it, and a shorter one would let
   * a second consumer sweep the pair while the first still does), at most 12 hours. A pair that fails is received
   * again after it.
   * @default - 6 x the guard's timeout (AWS's advice for a Lambda consumer), at most 12 hours: 30 minutes by default
   */
  readonly visibilityTimeout?: Duration;

  /**
   * Receives of a pair before it moves to the dead-letter queue (and its alarm fires).
   * @default 3
   */
  readonly maxReceiveCount?: number;
}

export interface SweepFanOutProps {
  readonly guard: lambda.Function;
  readonly guardTimeout: Duration;
  readonly logGroup: logs.ILogGroup;
  readonly topic: sns.ITopic;
  /** Adds a statement to the guard role's inline policy. */
  readonly addToRolePolicy: (statement: iam.PolicyStatement) => void;
  readonly options: SweepFanOutOptions;
}

/**
 * The sweep queue: the scheduled sweep plans one message per (account, region) pair, and the guard consumes them, one pair
 * per invocation, so an organization of a thousand pairs is swept within the hour. A FIFO queue with one message group
 * per pair (`ACCOUNT/REGION`, the planner sets it) never hands a pair to two consumers at once, without a lock of ours.
 */
export class SweepFanOut extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly eventSource: lambda.EventSourceMapping;
  public readonly maxConcurrency: number;
  public readonly visibilityTimeout: Duration;
  /** Sum of `failed` over the planner's `sweep-plan` lines: pairs it could not enqueue. */
  public readonly planFailures: logs.MetricFilter;
  public readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: SweepFanOutProps) {
    super(scope, id);
    const options = props.options;
    this.maxConcurrency = options.maxConcurrency ?? DEFAULT_SWEEP_MAX_CONCURRENCY;
    this.visibilityTimeout = options.visibilityTimeout ?? sixTimes(props.guardTimeout);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      fifo: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      fifo: true,
      // The planner sets each message's deduplication id (pair and scheduled time): two plans of one hour never collapse.
      contentBasedDeduplication: false,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: this.visibilityTimeout,
      // A pair not swept within a day is stale: the next hourly plans have queued it again.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: options.maxReceiveCount ?? DEFAULT_SWEEP_MAX_RECEIVE_COUNT },
    });

    // In the role's inline policy (see InvokeGuard.addToRolePolicy), so no grant of the L2 event source adds a second one.
    props.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ConsumeSweepQueue',
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      resources: [this.queue.queueArn],
    }));
    props.addToRolePolicy(new iam.PolicyStatement({
      sid: 'PlanSweep',
      actions: ['sqs:SendMessage'],
      resources: [this.queue.queueArn],
    }));
    props.guard.addEnvironment(SWEEP_QUEUE_URL_ENV, this.queue.queueUrl);

    this.eventSource = props.guard.addEventSourceMapping('SweepQueueSource', {
      eventSourceArn: this.queue.queueArn,
      // One pair per invocation: each gets the whole timeout for its sweep (a batch would share one), and a pair that
      // fails is the only message of its invocation that SQS delivers again.
      batchSize: 1,
      // A pair whose role cannot be assumed or whose sweep did not finish is reported alone, without failing the function.
      reportBatchItemFailures: true,
      maxConcurrency: this.maxConcurrency,
    });

    const period = Duration.minutes(5);
    this.planFailures = new logs.MetricFilter(this, 'SweepPlanFailures', {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(SWEEP_PLAN_FAILED_PATTERN),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'SweepPlanFailures',
      metricValue: '$.failed',
    });
    const alarmOn = (name: string, description: string, metric: cloudwatch.IMetric) =>
      alertOn(this, name, description, metric, props.topic);
    this.alarms = [
      alarmOn('SweepDeadLetters', 'Account/region pairs the guard failed to sweep on every receive are waiting in the sweep dead-letter queue',
        this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' })),
      alarmOn('SweepPlanFailuresAlarm', 'The sweep planner could not queue some account/region pairs (sweep-plan failed > 0); they are not swept this round',
        this.planFailures.metric({ period, statistic: 'Sum' })),
    ];

    // No cdk-nag acknowledgement: AwsSolutions-SQS3 sees this queue is the sweep queue's dead-letter queue.
  }
}

/** The `sweepFanOut` prop's options, or undefined when it is off. */
export function sweepFanOutOptions(value: SweepFanOutOptions | boolean | undefined, byDefault: boolean): SweepFanOutOptions | undefined {
  const on = value === undefined ? byDefault : value !== false;
  return on ? (typeof value === 'object' ? value : {}) : undefined;
}

/** Why the options cannot be deployed with this guard timeout and reserved concurrency, one sentence each. */
export function sweepFanOutErrors(options: SweepFanOutOptions, guardTimeout: Duration, reserved: number | undefined): string[] {
  const errors: string[] = [];
  const [min, max] = SWEEP_MAX_CONCURRENCY_RANGE;
  const concurrency = options.maxConcurrency;
  if (concurrency !== undefined && !Token.isUnresolved(concurrency) && !(Number.isInteger(concurrency) && concurrency >= min && concurrency <= max)) {
    errors.push(`Error - sweepFanOut.maxConcurrency must be an integer from ${min} to ${max} (the SQS event source's range), got ${concurrency}.`);
  }
  const visibility = options.visibilityTimeout;
  if (visibility && !visibility.isUnresolved()) {
    if (visibility.toSeconds() < guardTimeout.toSeconds()) {
      errors.push(`Error - sweepFanOut.visibilityTimeout (${visibility.toSeconds()} s) must be at least the guard's timeout `
        + `(${guardTimeout.toSeconds()} s): a shorter one would hand a pair to a second consumer while the first still sweeps it.`);
    }
    if (visibility.toSeconds() > MAX_VISIBILITY_TIMEOUT.toSeconds()) {
      errors.push(`Error - sweepFanOut.visibilityTimeout (${visibility.toSeconds()} s) must be at most 12 hours (43200 s).`);
    }
  }
  const receives = options.maxReceiveCount;
  if (receives !== undefined && !(Number.isInteger(receives) && receives >= 1 && receives <= 1000)) {
    errors.push(`Error - sweepFanOut.maxReceiveCount must be an integer from 1 to 1000, got ${receives}.`);
  }
  const wanted = concurrency ?? DEFAULT_SWEEP_MAX_CONCURRENCY;
  if (reserved !== undefined && !Token.isUnresolved(reserved) && !Token.isUnresolved(wanted) && reserved <= wanted) {
    errors.push(`Error - reservedConcurrentExecutions (${reserved}) must exceed sweepFanOut.maxConcurrency (${wanted}): the sweep `
      + 'consumers would take every execution and the Invoke and change events would be throttled. Leave it unset '
      + `(${wanted} + 2) or raise it.`);
  }
  return errors;
}

/** The guard's reserved concurrency with the sweep fanning out: its consumers, and the 2 the events have without. */
export function fanOutReservedConcurrency(options: SweepFanOutOptions): number {
  return (options.maxConcurrency ?? DEFAULT_SWEEP_MAX_CONCURRENCY) + 2;
}

function sixTimes(timeout: Duration): Duration {
  return Duration.seconds(Math.min(6 * timeout.toSeconds(), MAX_VISIBILITY_TIMEOUT.toSeconds()));
}
