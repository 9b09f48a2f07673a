import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * How cdk-nag prints a resource in a finding id: `Fn::Join` flattened, `Ref`/`GetAtt` as `<X>`.
 * Acknowledgements name findings exactly, so the id is built from the same token the policy uses.
 */
export function nagResourceId(stack: Stack, value: string): string {
  const render = (v: unknown): string => {
    if (typeof v === 'string') {
      return v;
    }
    const o = v as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
    if (o.Ref) {
      return `<${String(o.Ref)}>`;
    }
    if (o['Fn::GetAtt']) {
      return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    }
    return JSON.stringify(v);
  };
  return render(stack.resolve(value));
}

/** The guard's accepted AwsSolutions findings, each with the reason it is accepted. */
export function acknowledgeGuardFindings(parts: {
  readonly trailBucket?: IConstruct;
  readonly role: IConstruct;
  readonly deadLetterQueue: IConstruct;
  readonly guardedFunctionArns: readonly string[];
}): void {
  if (parts.trailBucket) {
    Validations.of(parts.trailBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'The bucket only receives CloudTrail log files, whose integrity CloudTrail log file validation proves; '
        + 'an access-log bucket would itself be unlogged and add cost without adding evidence.',
    });
  }
  const stack = Stack.of(parts.role);
  for (const arn of parts.guardedFunctionArns) {
    Validations.of(parts.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceId(stack, arn)}:*]`,
      reason: 'ARN:* is exactly the aliases and versions of one guarded function, whose resource policies the guard '
        + 'reads and rewrites per Invoke event; versions are published after deploy, so they cannot be listed.',
    });
  }
  Validations.of(parts.deadLetterQueue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is itself the dead-letter queue of the guard rules\' targets (Invoke, change, sweep); the DeadLetters alarm watches it, '
      + 'and a further DLQ would only move the same undelivered events again.',
  });
}
