import { Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { InvokeGuard, InvokeGuardProps } from './invoke-guard';

export interface InvokeguardStackProps extends StackProps {
  /** Everything the guard is built from; see InvokeGuardProps. */
  readonly guard: InvokeGuardProps;
}

/** The deployable unit: one guard per account and region. */
export class InvokeguardStack extends Stack {
  public readonly guard: InvokeGuard;

  constructor(scope: Construct, id: string, props: InvokeguardStackProps) {
    super(scope, id, props);
    this.guard = new InvokeGuard(this, 'InvokeGuard', props.guard);
  }
}
