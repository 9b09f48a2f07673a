import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export const METRIC_NAMESPACE = 'Invokeguard';
/** Matches the guard's remediation log lines whose API call failed (log-line contract). */
export const FAILED_REMEDIATION_PATTERN = '{ $.message = "remediation" && $.outcome = "failed" }';
/**
 * Matches the guard's summary log lines that left invoke grants outside the allowlist in place
 * (log-line contract: `unfixed` counts them; a same-account IAM caller, which no policy change
 * stops, counts 1). The metric's value is `$.unfixed`.
 */
export const UNFIXED_GRANTS_PATTERN = '{ $.message = "summary" && $.unfixed > 0 }';
/**
 * Matches the guard's `sweep` log lines (one per sweep, or with the sweep fanning out one per account/region pair and
 * attempt) that did not read or reconcile every guarded policy, e.g. because the sweep stopped early as the timeout
 * neared (log-line contract: `incomplete`). No `pair` dimension: a metric per pair would cost one per account and region.
 */
export const INCOMPLETE_SWEEPS_PATTERN = '{ $.message = "sweep" && $.incomplete IS TRUE }';

/**
 * The guard's one kind of alarm: the metric reached 1 in a period, to the alerts topic. No data means no invocations
 * or no failures, which is the healthy state.
 */
export function alertOn(scope: Construct, id: string, description: string, metric: cloudwatch.IMetric, topic: sns.ITopic): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: description,
    metric,
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new actions.SnsAction(topic));
  return alarm;
}

export interface GuardAlarmsProps {
  readonly guard: lambda.IFunction;
  readonly logGroup: logs.ILogGroup;
  readonly deadLetterQueue: sqs.IQueue;
  readonly topic: sns.ITopic;
  /**
   * Whether the guard enforces for at least one guarded function, which is when the UnfixedGrants
   * alarm is created; see `GuardAlarms.unfixedGrants`.
   */
  readonly enforces: boolean;
}

/** Alarms on anything that means an Invoke went unchecked or a policy was left unfixed. */
export class GuardAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[];
  /** Sum of `unfixed` over the summary lines, per `mode` of the function the line is about. */
  public readonly unfixedGrants: logs.MetricFilter;
  /** Alarm on unfixed grants of enforced functions; absent when the guard enforces nowhere. */
  public readonly unfixedGrantsAlarm?: cloudwatch.Alarm;
  /** Sweeps that left guarded policies unread or unreconciled. */
  public readonly incompleteSweeps: logs.MetricFilter;

  constructor(scope: Construct, id: string, props: GuardAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);

    const failed = new logs.MetricFilter(this, 'FailedRemediations', {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(FAILED_REMEDIATION_PATTERN),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'FailedRemediations',
      metricValue: '1',
    });

    // `mode` (on every log line) is the mode of the function the line is about, so a function set
    // to `report` in the policies file stays out of the enforce series even when the stack enforces.
    this.unfixedGrants = new logs.MetricFilter(this, 'UnfixedGrants', {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(UNFIXED_GRANTS_PATTERN),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'UnfixedGrants',
      metricValue: '$.unfixed',
      dimensions: { mode: '$.mode' },
    });

    this.incompleteSweeps = new logs.MetricFilter(this, 'IncompleteSweeps', {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(INCOMPLETE_SWEEPS_PATTERN),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'IncompleteSweeps',
      metricValue: '1',
    });

    const alarmOn = (name: string, description: string, metric: cloudwatch.IMetric) =>
      alertOn(this, name, description, metric, props.topic);

    this.alarms = [
      alarmOn('Errors', 'The invokeguard function failed; Invoke events may be retried or land in the DLQ',
        props.guard.metricErrors({ period, statistic: 'Sum' })),
      alarmOn('DeadLetters', 'Invoke events the guard could not process are waiting in its dead-letter queue',
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' })),
      alarmOn('FailedRemediationsAlarm', 'The guard could not rewrite a resource policy (outcome "failed")',
        failed.metric({ period, statistic: 'Sum' })),
      alarmOn('IncompleteSweepsAlarm', 'A sweep of the guarded policies stopped before it read and reconciled them all (incomplete: true)',
        this.incompleteSweeps.metric({ period, statistic: 'Sum' })),
    ];
    // In report mode every violation leaves its grants in place by design, so an alarm there would fire
    // on every violation: it exists only when the guard enforces for some function (the stack's mode is
    // `enforce`, or a function sets `"mode": "enforce"` itself), and watches only the lines of enforced
    // functions (the `mode` dimension). The metric is there in both modes, to chart what report mode leaves.
    if (props.enforces) {
      this.unfixedGrantsAlarm = alarmOn('UnfixedGrantsAlarm',
        'In enforce mode the guard left invoke grants outside the allowlist in place (failures, or a same-account IAM caller no policy change stops)',
        this.unfixedGrants.metric({ period, statistic: 'Sum', dimensionsMap: { mode: 'enforce' } }));
      this.alarms.push(this.unfixedGrantsAlarm);
    }
  }
}
