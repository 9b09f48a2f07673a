import { Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { InvokeGuard, InvokeGuardProps } from './invoke-guard';
import { TrailAthena, TrailAthenaProps } from './trail-athena';

export interface InvokeguardStackProps extends StackProps {
  /** Everything the guard is built from; see InvokeGuardProps. */
  readonly guard: InvokeGuardProps;
  /**
   * Athena over the trail the stack creates (Glue table, workgroup, saved queries); `false` for none. Nothing is
   * created with `createTrail: false`.
   * @default {}
   */
  readonly athena?: Omit<TrailAthenaProps, 'trailBucket' | 'policiesFile' | 'cli'> | false;
}

/** The deployable unit: one guard per account and region. */
export class InvokeguardStack extends Stack {
  public readonly guard: InvokeGuard;
  public readonly athena?: TrailAthena;

  constructor(scope: Construct, id: string, props: InvokeguardStackProps) {
    super(scope, id, props);
    this.guard = new InvokeGuard(this, 'InvokeGuard', props.guard);
    if (this.guard.trail && props.athena !== false) {
      this.athena = new TrailAthena(this, 'TrailAthena', {
        ...props.athena,
        cli: this.guard.cli,
        trailBucket: this.guard.trail.bucket,
        policiesFile: this.guard.policies.file,
      });
    }
  }
}
