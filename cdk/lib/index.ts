// The invokeguard constructs: a guard per account and region (InvokeGuard), or a hub guarding an organization's member
// accounts (InvokeguardHub, with the member template it deploys by StackSet), and their parts.
export * from './cli';
export * from './guard-code';
export * from './invoke-guard';
export * from './invokeguard-stack';
export * from './hub';
export * from './hub-stack';
export * from './member-stack';
export * from './trail-file-backstop';
export * from './invoke-trail';
export * from './trail-athena';
export * from './trail-partitions';
export * from './guard-alarms';
export * from './notifications';
export * from './insights-queries';
export * from './sweep-schedule';
export * from './sweep-fan-out';
export { effectiveMode, GUARD_MODES, APPLY_WITH } from './policies';
export type { GuardMode, ApplyWith, GuardedFunctionEntry, LoadedPolicies } from './policies';
