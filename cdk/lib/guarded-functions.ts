import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import { CfnTrail } from 'aws-cdk-lib/aws-cloudtrail';
import { GuardedFunctionEntry } from './policies';

/** A policies key as an unqualified function ARN: names resolve in the stack's partition/account/region. */
export function functionArn(stack: Stack, key: string): string {
  if (key.startsWith('arn:')) {
    return key;
  }
  return stack.formatArn({
    service: 'lambda',
    resource: 'function',
    resourceName: key,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** True when a policies key names the guard's own function, which must never be guarded. */
export function namesFunction(key: string, functionName: string): boolean {
  return key === functionName || key.endsWith(`:function:${functionName}`);
}

/** ARN keys whose account or region differs from the stack's, when both are known at synth time. */
export function foreignArns(stack: Stack, arns: readonly string[]): string[] {
  return arns.filter((arn) => {
    if (Token.isUnresolved(arn)) {
      return false;
    }
    const [, , , region, account] = arn.split(':');
    const differs = (mine: string, theirs: string) => !Token.isUnresolved(mine) && mine !== theirs;
    return differs(stack.region, region) || differs(stack.account, account);
  });
}

/**
 * The ARNs in the stack's account: a name key's ARN (a token, formatted in the stack's account) always is; all of them
 * when the stack's account is unknown at synth time (an environment-agnostic stack cannot tell).
 */
export function ownAccountArns(stack: Stack, arns: readonly string[]): string[] {
  if (Token.isUnresolved(stack.account)) {
    return [...arns];
  }
  return arns.filter((arn) => Token.isUnresolved(arn) || arn.split(':')[4] === stack.account);
}

export function guardedArns(stack: Stack, entries: readonly GuardedFunctionEntry[]): string[] {
  return entries.map((e) => functionArn(stack, e.key));
}

/**
 * The Lambda data events that invoke a function, which the guard judges (`INVOKE_EVENTS` in the Rust
 * crate): `Invoke`, and `InvokeFunctionUrl` for calls through a function URL.
 */
export const INVOKE_EVENT_NAMES: readonly string[] = ['Invoke', 'InvokeFunctionUrl'];

/**
 * CloudTrail advanced event selectors for the invoke data events (`INVOKE_EVENT_NAMES`) on exactly the guarded functions.
 * Equals for the unqualified ARN and StartsWith `ARN:` for qualified ones, in separate selectors
 * (selectors are ORed), because a bare StartsWith `function:Blog` would also log `function:BlogOther`.
 */
export function invokeDataEventSelectors(arns: readonly string[]): CfnTrail.AdvancedEventSelectorProperty[] {
  const invokeOn = (name: string, arnCondition: CfnTrail.AdvancedFieldSelectorProperty) => ({
    name,
    fieldSelectors: [
      { field: 'eventCategory', equalTo: ['Data'] },
      { field: 'resources.type', equalTo: ['AWS::Lambda::Function'] },
      { field: 'eventName', equalTo: [...INVOKE_EVENT_NAMES] },
      arnCondition,
    ],
  });
  return [
    invokeOn('invokeguard: Invoke of guarded functions', { field: 'resources.ARN', equalTo: [...arns] }),
    invokeOn('invokeguard: Invoke of guarded qualifiers', {
      field: 'resources.ARN',
      startsWith: arns.map((a) => `${a}:`),
    }),
  ];
}

/**
 * The management events that change who may invoke a function, which the guard re-checks (`CHANGE_EVENTS` in
 * the Rust crate). Recorded names carry API-version suffixes (`AddPermission20150331v2`), so the rule matches
 * them by prefix.
 */
export const CHANGE_EVENT_NAMES: readonly string[] = [
  'AddPermission', 'RemovePermission', 'PutResourcePolicy', 'DeleteResourcePolicy',
  'CreateFunctionUrlConfig', 'UpdateFunctionUrlConfig', 'CreateAlias', 'UpdateAlias',
];

/**
 * Write management events (every change event above is one). Without a trail logging them, EventBridge gets no
 * `AWS API Call via CloudTrail` management events, so the change rule would never fire. Read-only management
 * events (Get*, List*, Describe*: the bulk of them) are left out: nothing here uses them.
 */
export const MANAGEMENT_EVENTS_SELECTOR: CfnTrail.AdvancedEventSelectorProperty = {
  name: 'Write management events',
  fieldSelectors: [
    { field: 'eventCategory', equalTo: ['Management'] },
    { field: 'readOnly', equalTo: ['false'] },
  ],
};

/** Values for the rule's `detail.resources.ARN`: each function, and any of its qualified ARNs. */
export function eventPatternArns(arns: readonly string[]): unknown[] {
  return arns.flatMap((a) => [a, { prefix: `${a}:` }]);
}

/** IAM resources the guard may manage: each function's policy and its aliases'/versions' policies. */
export function policyResourceArns(arns: readonly string[]): string[] {
  return arns.flatMap((a) => [a, `${a}:*`]);
}
