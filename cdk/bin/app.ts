#!/usr/bin/env node
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InvokeguardStack } from '../lib/invokeguard-stack';
import { GuardMode, REPO_ROOT } from '../lib/policies';

const app = new App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === '' ? undefined : String(value);
};

new InvokeguardStack(app, context('stackName') ?? 'Invokeguard', {
  description: 'invokeguard: keeps Lambda resource policies to the allowlist in policies/invokers.json',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  guard: {
    // Relative paths are taken from the repository root, where `make deploy` and the docs start.
    policiesFile: path.resolve(REPO_ROOT, context('policiesFile') ?? 'policies/invokers.json'),
    mode: context('mode') as GuardMode | undefined,
    alertEmail: context('alertEmail'),
    eventBusName: context('eventBusName'),
    createTrail: context('createTrail') === undefined ? undefined : context('createTrail') !== 'false',
    sweepSchedule: context('sweepSchedule'),
  },
});

// An unacknowledged AwsSolutions finding fails synth; the report lands in cdk.out.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
