import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** `source` and detail-types of the events the guard puts on its bus (log-line contract). */
export const NOTIFICATION_SOURCE = 'invokeguard';
export const NOTIFICATION_DETAIL_TYPES = ['Invokeguard Violation', 'Invokeguard Remediation'];

export interface GuardNotificationsProps {
  /** Bus the guard puts its events on; created when absent. */
  readonly existingEventBus?: events.IEventBus;
  /**
   * Name of the bus created when `existingEventBus` is absent.
   * @default - a name CloudFormation generates
   */
  readonly eventBusName?: string;
  /** Email address subscribed to the alerts topic; none when absent. */
  readonly alertEmail?: string;
}

/** The guard's event bus, and the encrypted topic its violations, remediations and alarms go to. */
export class GuardNotifications extends Construct {
  public readonly eventBus: events.IEventBus;
  public readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: GuardNotificationsProps) {
    super(scope, id);
    this.eventBus = props.existingEventBus ?? new events.EventBus(this, 'Bus', { eventBusName: props.eventBusName });

    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the invokeguard alerts topic',
      enableKeyRotation: true,
    });
    // EventBridge and CloudWatch alarms publish to the topic as services; an SSE topic needs them on its key.
    for (const service of ['events.amazonaws.com', 'cloudwatch.amazonaws.com']) {
      key.grant(new iam.ServicePrincipal(service), 'kms:Decrypt', 'kms:GenerateDataKey*');
    }
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'invokeguard alerts',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alertEmail) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));
    }

    new events.Rule(this, 'ToTopic', {
      description: 'Routes invokeguard violations and remediations to the alerts topic',
      eventBus: this.eventBus,
      eventPattern: { source: [NOTIFICATION_SOURCE], detailType: NOTIFICATION_DETAIL_TYPES },
      targets: [new targets.SnsTopic(this.topic)],
    });
  }
}
