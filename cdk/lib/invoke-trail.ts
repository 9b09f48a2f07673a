import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { invokeDataEventSelectors, MANAGEMENT_EVENTS_SELECTOR } from './guarded-functions';

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
    cfnTrail.advancedEventSelectors = [MANAGEMENT_EVENTS_SELECTOR, ...invokeDataEventSelectors(props.functionArns)];
  }
}
