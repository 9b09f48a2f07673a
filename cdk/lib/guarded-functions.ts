import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import { CfnTrail } from 'aws-cdk-lib/aws-cloudtrail';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
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

/**
 * True when a policies key names the guard's own function, which must never be guarded: its name (a name key means the
 * stack's account and region, where the guard runs), or its own full ARN when the stack's account and region are known.
 * An ARN key of a same-named function in another account or region is another function. With the environment unknown
 * at synth, an ARN key cannot be told apart here; the guard's init (which knows its home) refuses its own ARN.
 */
export function namesGuard(stack: Stack, key: string, functionName: string): boolean {
  if (!key.startsWith('arn:')) {
    return key === functionName;
  }
  if (Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)) {
    return false;
  }
  const [, , , region, account, , name] = key.split(':');
  return region === stack.region && account === stack.account && name === functionName;
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

/**
 * EventBridge's default limit on an event pattern, in characters (a quota that can be raised to 4,096; the default is
 * assumed). A rule whose pattern is longer fails to deploy, so a long list of values is spread over several rules.
 */
export const EVENT_PATTERN_LIMIT = 2048;

/**
 * The patterns `build` makes from consecutive runs of `values`, each run as long as its pattern stays within
 * `EVENT_PATTERN_LIMIT`. The size is measured on the pattern as CloudFormation receives it: an ARN of a name key is an
 * `Fn::Join` with `{"Ref": "AWS::Partition"}` and the like, always longer than the value it resolves to, so the
 * deployed pattern is never longer than measured.
 */
export function patternsWithinLimit<T>(
  scope: Construct, values: readonly T[], build: (part: readonly T[]) => events.EventPattern,
): events.EventPattern[] {
  const stack = Stack.of(scope);
  const size = (pattern: events.EventPattern) => {
    const { detailType, ...rest } = pattern;
    return JSON.stringify(stack.resolve({ ...rest, 'detail-type': detailType })).length;
  };
  const patterns: events.EventPattern[] = [];
  let run: T[] = [];
  for (const value of values) {
    if (run.length > 0 && size(build([...run, value])) > EVENT_PATTERN_LIMIT) {
      patterns.push(build(run));
      run = [];
    }
    run.push(value);
    if (size(build(run)) > EVENT_PATTERN_LIMIT) {
      throw new Error(`invokeguard: an event pattern for ${JSON.stringify(stack.resolve(value))} alone is over EventBridge's `
        + `${EVENT_PATTERN_LIMIT}-character limit.`);
    }
  }
  if (run.length > 0) {
    patterns.push(build(run));
  }
  return patterns;
}

/**
 * The `errorCode`s of a refused call, which the Invoke rules drop so that an outsider cannot make the guard run for free.
 * Each is one the Rust record reader also counts as refused (`Invocation::was_refused`: an access denial, checked by
 * scripts/event-patterns-test.py); a denial spelt otherwise still reaches the guard, which ignores it.
 */
export const ACCESS_DENIED_ERROR_CODES: readonly string[] = [
  'AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Client.UnauthorizedOperation',
];

/**
 * `detail.errorCode` of an Invoke rule: absent, or anything but an access denial. The alternatives of a field are ORed,
 * and `anything-but` alone would not match a record without `errorCode` (DESIGN.md fact 24 for how this is tested).
 */
export function notRefused(): unknown[] {
  return [{ exists: false }, { 'anything-but': [...ACCESS_DENIED_ERROR_CODES] }];
}

/**
 * The patterns of the Invoke rules for `arns`: the same names the trail selects, so that a URL invocation the trail
 * logs also reaches the guard. The same patterns wherever the events arrive (a single account's bus, a hub's own
 * default bus, a member's forwarding rules); as many as EventBridge's pattern size limit needs (about a dozen functions
 * each).
 */
export function invokeEventPatterns(scope: Construct, arns: readonly string[]): events.EventPattern[] {
  return patternsWithinLimit(scope, arns, (part) => ({
    source: ['aws.lambda'],
    detailType: ['AWS API Call via CloudTrail'],
    detail: {
      eventSource: ['lambda.amazonaws.com'],
      eventName: [...INVOKE_EVENT_NAMES],
      errorCode: notRefused(),
      resources: { ARN: eventPatternArns(part) },
    },
  }));
}

/**
 * The patterns of the hub bus's Invoke rules: the Invoke events of the given member accounts. Each member's forwarding
 * rules already pick exactly its guarded functions' events, so the hub bus filters by account only (and drops refused
 * calls again, for a member stack deployed before they were dropped there), which keeps its
 * rules few however many functions the organization guards (and the guard ignores an event about any other function).
 */
export function memberInvokeEventPatterns(scope: Construct, accounts: readonly string[]): events.EventPattern[] {
  return patternsWithinLimit(scope, accounts, (part) => ({
    source: ['aws.lambda'],
    detailType: ['AWS API Call via CloudTrail'],
    account: [...part],
    detail: {
      eventSource: ['lambda.amazonaws.com'],
      eventName: [...INVOKE_EVENT_NAMES],
      errorCode: notRefused(),
    },
  }));
}

/** Construct id of the `index`th of several rules named `id`: the first keeps the plain id. */
export function partId(id: string, index: number): string {
  return index === 0 ? id : `${id}Part${index + 1}`;
}

/**
 * The pattern of the change rule. Deliberately no function filter (requestParameters.functionName is a name, a
 * partial or a full ARN; the guard resolves it) and no caller filter: a pattern on
 * userIdentity.sessionContext.sessionIssuer.arn would also drop IAM-user callers, which have no sessionContext. The
 * guard's own Add/RemovePermission calls come back here too; each costs it at most one GetPolicy, which finds the
 * policy it just wrote already within the allowlist.
 */
export function changeEventPattern(): events.EventPattern {
  return {
    source: ['aws.lambda'],
    detailType: ['AWS API Call via CloudTrail'],
    detail: {
      eventSource: ['lambda.amazonaws.com'],
      eventCategory: ['Management'],
      eventName: CHANGE_EVENT_NAMES.map((name) => ({ prefix: name })),
    },
  };
}

/** Values for the rule's `detail.resources.ARN`: each function, and any of its qualified ARNs. */
export function eventPatternArns(arns: readonly string[]): unknown[] {
  return arns.flatMap((a) => [a, { prefix: `${a}:` }]);
}

/**
 * The Lambda actions the guard's role (single account, the hub's own functions) and the member role may use, on exactly
 * the guarded functions and their qualified ARNs: read and write their policies, and list their versions and aliases.
 */
export const GUARD_LAMBDA_ACTIONS: readonly string[] = [
  'lambda:GetPolicy', 'lambda:AddPermission', 'lambda:RemovePermission',
  'lambda:PutResourcePolicy', 'lambda:DeleteResourcePolicy', 'lambda:ListAliases', 'lambda:ListVersionsByFunction',
];

/** IAM resources the guard may manage: each function's policy and its aliases'/versions' policies. */
export function policyResourceArns(arns: readonly string[]): string[] {
  return arns.flatMap((a) => [a, `${a}:*`]);
}
