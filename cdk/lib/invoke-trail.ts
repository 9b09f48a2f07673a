import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { invokeDataEventSelectors, MANAGEMENT_EVENTS_SELECTOR } from './guarded-functions';

/** CloudTrail's limit on the values of all conditions of all advanced event selectors of a trail (not adjustable). */
export const TRAIL_SELECTOR_VALUE_LIMIT = 500;

/** The values a trail's advanced event selectors hold, as CloudTrail counts them toward its limit. */
export function selectorValues(selectors: readonly cloudtrail.CfnTrail.AdvancedEventSelectorProperty[]): number {
  const conditions = ['equalTo', 'startsWith', 'endsWith', 'notEquals', 'notStartsWith', 'notEndsWith'] as const;
  return selectors.flatMap((s) => s.fieldSelectors as cloudtrail.CfnTrail.AdvancedFieldSelectorProperty[])
    .reduce((sum, field) => sum + conditions.reduce((n, c) => n + ((field[c] as string[] | undefined)?.length ?? 0), 0), 0);
}

export interface InvokeTrailProps {
  /** Unqualified ARNs of the guarded functions. */
  readonly functionArns: readonly string[];
  /** How long log files stay in the bucket. */
  readonly logExpiration: Duration;
}

/**
 * A trail logging write management events (which carry the policy, URL and alias changes the guard re-checks)
 * and `Invoke`/`InvokeFunctionUrl` data events of the guarded functions only, so EventBridge receives them
 * without paying for every function's invocations or for read-only management events.
 */
export class InvokeTrail extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly trail: cloudtrail.Trail;

  constructor(scope: Construct, id: string, props: InvokeTrailProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      lifecycleRules: [{
        expiration: props.logExpiration,
        noncurrentVersionExpiration: Duration.days(30),
        abortIncompleteMultipartUploadAfter: Duration.days(7),
      }],
      // Audit evidence outlives the stack; the README tells how to delete it by hand.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.trail = new cloudtrail.Trail(this, 'Trail', {
      bucket: this.bucket,
      enableFileValidation: true,
      includeGlobalServiceEvents: true,
      isMultiRegionTrail: true,
    });
    const cfnTrail = this.trail.node.defaultChild as cloudtrail.CfnTrail;
    // A trail takes either basic or advanced selectors; the L2 only writes basic ones.
    cfnTrail.addPropertyDeletionOverride('EventSelectors');
    const selectors = [MANAGEMENT_EVENTS_SELECTOR, ...invokeDataEventSelectors(props.functionArns)];
    const values = selectorValues(selectors);
    if (values > TRAIL_SELECTOR_VALUE_LIMIT) {
      // Each function adds two values (its ARN, and its ARN as a prefix of qualified ones); the rest are fixed.
      const fixed = values - 2 * props.functionArns.length;
      throw new Error(`invokeguard: the trail's event selectors would hold ${values} values for ${props.functionArns.length} `
        + `functions; CloudTrail takes at most ${TRAIL_SELECTOR_VALUE_LIMIT} on a trail, so ${Math.floor((TRAIL_SELECTOR_VALUE_LIMIT - fixed) / 2)} `
        + 'functions. Guard fewer functions per stack, or set createTrail: false and log their Invoke data events with a '
        + 'trail of your own.');
    }
    cfnTrail.advancedEventSelectors = selectors;
  }
}
