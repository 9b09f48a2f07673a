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

export interface GuardAlarmsProps {
  readonly guard: lambda.IFunction;
  readonly logGroup: logs.ILogGroup;
  readonly deadLetterQueue: sqs.IQueue;
  readonly topic: sns.ITopic;
}

/** Alarms on anything that means an Invoke went unchecked or a policy was left unfixed. */
export class GuardAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[];

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

    const alarmOn = (name: string, description: string, metric: cloudwatch.IMetric) =>
      new cloudwatch.Alarm(this, name, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data means no invocations or no failures, which is the healthy state.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });

    this.alarms = [
      alarmOn('Errors', 'The invokeguard function failed; Invoke events may be retried or land in the DLQ',
        props.guard.metricErrors({ period, statistic: 'Sum' })),
      alarmOn('DeadLetters', 'Invoke events the guard could not process are waiting in its dead-letter queue',
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' })),
      alarmOn('FailedRemediationsAlarm', 'The guard could not rewrite a resource policy (outcome "failed")',
        failed.metric({ period, statistic: 'Sum' })),
    ];
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
    }
  }
}
