import { CfnCondition, CfnParameter, CfnResource, CfnWaitConditionHandle, Fn, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import { changeEventPattern, GUARD_LAMBDA_ACTIONS, invokeEventPatterns, partId } from './guarded-functions';
import { nagResourceId } from './nag-acknowledgements';

/** Name of the role the hub guard assumes in each member account (the guard's `INVOKEGUARD_MEMBER_ROLE` default). */
export const DEFAULT_MEMBER_ROLE_NAME = 'invokeguard-member';

/** Everything the member role may do, on the guarded functions of its account only. */
export const MEMBER_ROLE_ACTIONS: readonly string[] = GUARD_LAMBDA_ACTIONS;

/** Names of the member template's parameters, which the hub's StackSet sets. */
export const MEMBER_PARAMETERS = {
  hubEventBusArn: 'HubEventBusArn',
  hubGuardRoleArn: 'HubGuardRoleArn',
  memberRoleRegion: 'MemberRoleRegion',
} as const;

/** IAM role names: up to 64 of `[\w+=,.@-]`. */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const ACCOUNT_ID = /^\d{12}$/;
const FUNCTION_ARN = /^arn:[a-z-]+:lambda:[a-z0-9-]+:(\d{12}):function:([A-Za-z0-9_-]{1,64})$/;

export interface MemberTrailBucket {
  /** Name of the organization trail's bucket. */
  readonly bucketName: string;
  /** Account owning the bucket (e.g. the log archive account); only its stack instances forward the bucket's events. */
  readonly account: string;
  /** Key prefix of the trail's log files, `AWSLogs/<org id>/`. */
  readonly logFilePrefix: string;
}

export interface InvokeguardMemberStackProps extends StackProps {
  /**
   * The guarded functions of each member account: 12-digit account id to unqualified function ARNs (the full-ARN keys
   * of the policies file). The template is the same in every account and region of the StackSet: each account's
   * resources carry a condition on `AWS::AccountId`, so an account that guards nothing gets none of them.
   */
  readonly guardedFunctions: Readonly<Record<string, readonly string[]>>;

  /**
   * Name of the role the hub guard assumes (the hub guard's `INVOKEGUARD_MEMBER_ROLE`).
   * @default 'invokeguard-member'
   */
  readonly memberRoleName?: string;

  /**
   * Default of the `HubEventBusArn` parameter: the hub bus the rules forward to.
   * @default - none; the StackSet sets it
   */
  readonly hubEventBusArn?: string;

  /**
   * Default of the `HubGuardRoleArn` parameter: the hub guard's role, the only principal the member role trusts.
   * @default - none; the StackSet sets it
   */
  readonly hubGuardRoleArn?: string;

  /**
   * Default of the `MemberRoleRegion` parameter: the one region whose stack instance creates the member role (IAM is
   * global, so the instances of the other regions must not create it again).
   * @default - none; the StackSet sets it
   */
  readonly memberRoleRegion?: string;

  /**
   * The organization trail's bucket: its owner account also forwards the bucket's S3 `Object Created` events of trail
   * log files to the hub bus (the trail-file backstop). The bucket must send notifications to EventBridge.
   * @default - no trail-file events are forwarded
   */
  readonly trailBucket?: MemberTrailBucket;
}

/**
 * The member template that the hub's StackSet deploys in every account of the member OUs and every member region:
 * rules on the default bus that forward the guarded functions' Invoke/InvokeFunctionUrl events and the change
 * (management) events to the hub bus, the role EventBridge uses for that (PutEvents on the hub bus only), and the
 * remediation role the hub guard assumes (trusting only the hub guard's role; read and rewrite the resource policies of
 * this account's guarded functions only).
 */
export class InvokeguardMemberStack extends Stack {
  public readonly memberRoleName: string;
  public readonly hubEventBusArn: CfnParameter;
  public readonly hubGuardRoleArn: CfnParameter;
  public readonly memberRoleRegion: CfnParameter;
  /** Member role per account id. */
  public readonly memberRoles: ReadonlyMap<string, iam.Role>;
  /** Invoke forwarding rules per account id (several when its functions' ARNs exceed one event pattern's size). */
  public readonly invokeRules: ReadonlyMap<string, readonly events.Rule[]>;
  /** Forwards the change events; in every account that guards a function. */
  public readonly changeRule?: events.Rule;
  /** Forwards the trail bucket's Object Created events; only in the bucket's account. */
  public readonly trailFileRule?: events.Rule;
  /** The role EventBridge forwards with. */
  public readonly forwardRole?: iam.Role;

  constructor(scope: Construct, id: string, props: InvokeguardMemberStackProps) {
    super(scope, id, props);
    checkMemberProps(props);
    this.memberRoleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;

    this.hubEventBusArn = new CfnParameter(this, MEMBER_PARAMETERS.hubEventBusArn, {
      type: 'String',
      description: 'ARN of the hub event bus that receives the forwarded events',
      allowedPattern: '^arn:[a-z-]+:events:[a-z0-9-]+:\\d{12}:event-bus/[A-Za-z0-9._/-]+$',
      default: props.hubEventBusArn,
    });
    this.hubGuardRoleArn = new CfnParameter(this, MEMBER_PARAMETERS.hubGuardRoleArn, {
      type: 'String',
      description: 'ARN of the hub guard\'s role, the only principal that may assume the member role',
      allowedPattern: '^arn:[a-z-]+:iam::\\d{12}:role/[\\w+=,.@/-]+$',
      default: props.hubGuardRoleArn,
    });
    this.memberRoleRegion = new CfnParameter(this, MEMBER_PARAMETERS.memberRoleRegion, {
      type: 'String',
      description: 'The region whose stack instance creates the (global) member role',
      allowedPattern: '^[a-z]{2}(-[a-z]+)+-\\d$',
      default: props.memberRoleRegion,
    });
    // Every resource below may be left out by its condition; a template needs at least one resource.
    new CfnWaitConditionHandle(this, 'Placeholder');

    const roleRegion = new CfnCondition(this, 'IsMemberRoleRegion', {
      expression: Fn.conditionEquals(Stack.of(this).region, this.memberRoleRegion.valueAsString),
    });
    const accounts = Object.keys(props.guardedFunctions).sort();
    const isAccount = new Map(accounts.map((account) => [account, new CfnCondition(this, `IsMember${account}`, {
      expression: Fn.conditionEquals(Stack.of(this).account, account),
    })]));
    const isTrailBucketAccount = props.trailBucket && new CfnCondition(this, 'IsTrailBucketAccount', {
      expression: Fn.conditionEquals(Stack.of(this).account, props.trailBucket.account),
    });
    const guardsFunctions = anyOf(this, 'GuardsFunctions', [...isAccount.values()]);
    const forwards = anyOf(this, 'ForwardsEvents', [...(guardsFunctions ? [guardsFunctions] : []), ...(isTrailBucketAccount ? [isTrailBucketAccount] : [])]);

    const memberRoles = new Map<string, iam.Role>();
    const invokeRules = new Map<string, events.Rule[]>();
    if (forwards) {
      this.forwardRole = new iam.Role(this, 'ForwardRole', {
        description: 'invokeguard: EventBridge forwards the guarded functions\' events to the hub bus',
        assumedBy: new iam.ServicePrincipal('events.amazonaws.com').withConditions({
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
        }),
        inlinePolicies: {
          invokeguard: new iam.PolicyDocument({
            statements: [new iam.PolicyStatement({
              sid: 'ForwardToHubBus',
              actions: ['events:PutEvents'],
              resources: [this.hubEventBusArn.valueAsString],
            })],
          }),
        },
      });
      onlyIf(this.forwardRole, forwards);
    }
    const forwardRole = this.forwardRole;
    const toHub = (): events.IRuleTarget => ({ bind: () => ({ arn: this.hubEventBusArn.valueAsString, role: forwardRole }) });

    for (const account of accounts) {
      const arns = [...props.guardedFunctions[account]];
      const rules = invokeEventPatterns(this, arns).map((eventPattern, i) => {
        const rule = new events.Rule(this, partId(`InvokeRule${account}`, i), {
          description: 'invokeguard: forwards Invoke and InvokeFunctionUrl events of this account\'s guarded functions to the hub bus',
          eventPattern,
          targets: [toHub()],
        });
        onlyIf(rule, isAccount.get(account)!);
        return rule;
      });
      invokeRules.set(account, rules);

      const role = new iam.Role(this, `MemberRole${account}`, {
        roleName: this.memberRoleName,
        description: 'invokeguard: the hub guard reads and rewrites the resource policies of this account\'s guarded functions',
        assumedBy: new iam.ArnPrincipal(this.hubGuardRoleArn.valueAsString),
        inlinePolicies: {
          invokeguard: new iam.PolicyDocument({
            statements: [new iam.PolicyStatement({
              sid: 'ManageGuardedResourcePolicies',
              actions: [...MEMBER_ROLE_ACTIONS],
              // Exactly the keys' ARNs: each names its function's partition, region and this account.
              resources: arns.flatMap((arn) => [arn, `${arn}:*`]),
            })],
          }),
        },
      });
      const both = new CfnCondition(this, `CreatesMemberRole${account}`, {
        expression: Fn.conditionAnd(isAccount.get(account)!, roleRegion),
      });
      onlyIf(role, both);
      memberRoles.set(account, role);
      for (const arn of arns) {
        for (const resource of [arn, `${arn}:*`]) {
          Validations.of(role).acknowledge({
            id: `AwsSolutions-IAM5[Resource::${nagResourceId(this, resource)}]`,
            reason: 'One guarded function of this account, by its ARN key, and, with :*, exactly its aliases and versions, '
              + 'whose resource policies the hub guard reads and rewrites; versions are published after deploy, so they cannot '
              + 'be listed.',
          });
        }
      }
    }
    this.memberRoles = memberRoles;
    this.invokeRules = invokeRules;

    if (guardsFunctions) {
      this.changeRule = new events.Rule(this, 'ChangeRule', {
        description: 'invokeguard: forwards the management events that change who may invoke a function to the hub bus',
        eventPattern: changeEventPattern(),
        targets: [toHub()],
      });
      onlyIf(this.changeRule, guardsFunctions);
    }

    if (props.trailBucket && isTrailBucketAccount) {
      this.trailFileRule = new events.Rule(this, 'TrailFileRule', {
        description: 'invokeguard: forwards new organization trail log files to the hub bus (trail-file backstop)',
        eventPattern: {
          source: ['aws.s3'],
          detailType: ['Object Created'],
          detail: {
            bucket: { name: [props.trailBucket.bucketName] },
            object: { key: [{ prefix: props.trailBucket.logFilePrefix }] },
          },
        },
        targets: [toHub()],
      });
      onlyIf(this.trailFileRule, isTrailBucketAccount);
    }
  }
}

/** Account id to unqualified function ARNs, from the full-ARN keys of a policies file; rejects any other key. */
export function functionsByAccount(keys: readonly string[]): Record<string, string[]> {
  const byAccount: Record<string, string[]> = {};
  const bad = keys.filter((key) => !FUNCTION_ARN.test(key));
  if (bad.length > 0) {
    throw new Error(`invokeguard: a hub guard needs every function of a member account keyed by its unqualified ARN `
      + `(arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME), which names its member account; not: ${bad.join(', ')}`);
  }
  for (const key of keys) {
    const account = FUNCTION_ARN.exec(key)![1];
    (byAccount[account] ??= []).push(key);
  }
  return byAccount;
}

function checkMemberProps(props: InvokeguardMemberStackProps): void {
  const errors: string[] = [];
  const roleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;
  if (!ROLE_NAME.test(roleName)) {
    errors.push(`Error - memberRoleName "${roleName}" is not an IAM role name.`);
  }
  const accounts = Object.keys(props.guardedFunctions);
  if (accounts.length === 0) {
    errors.push('Error - guardedFunctions lists no member account.');
  }
  for (const account of accounts) {
    if (!ACCOUNT_ID.test(account)) {
      errors.push(`Error - guardedFunctions key "${account}" is not a 12-digit account id.`);
    }
    const arns = props.guardedFunctions[account];
    if (arns.length === 0) {
      errors.push(`Error - guardedFunctions["${account}"] lists no function.`);
    }
    for (const arn of arns) {
      const m = FUNCTION_ARN.exec(arn);
      if (!m || m[1] !== account) {
        errors.push(`Error - "${arn}" is not an unqualified function ARN of account ${account}.`);
      }
    }
  }
  if (props.trailBucket && !ACCOUNT_ID.test(props.trailBucket.account)) {
    errors.push(`Error - trailBucket.account "${props.trailBucket.account}" is not a 12-digit account id.`);
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}

/** Puts every CloudFormation resource of `scope` under `condition`. */
function onlyIf(scope: IConstruct, condition: CfnCondition): void {
  for (const child of scope.node.findAll()) {
    if (child instanceof CfnResource) {
      child.cfnOptions.condition = condition;
    }
  }
}

/** One condition true when any of `conditions` is (Fn::Or takes 2 to 10 conditions, so larger sets are nested). */
function anyOf(scope: Construct, id: string, conditions: CfnCondition[]): CfnCondition | undefined {
  if (conditions.length <= 1) {
    return conditions[0];
  }
  let level = conditions;
  let depth = 0;
  while (level.length > 1) {
    const next: CfnCondition[] = [];
    for (let i = 0; i < level.length; i += 10) {
      const chunk = level.slice(i, i + 10);
      const last = level.length <= 10;
      next.push(chunk.length === 1 ? chunk[0] : new CfnCondition(scope, last ? id : `${id}${depth}x${i / 10}`, {
        expression: Fn.conditionOr(...chunk),
      }));
    }
    level = next;
    depth += 1;
  }
  return level[0];
}
