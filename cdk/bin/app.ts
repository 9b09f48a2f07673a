#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addStackFromContext } from '../lib/app-config';

const app = new App();

// The single-account stack (InvokeguardStack), or with -c hub=true the organization hub (InvokeguardHubStack);
// see lib/app-config.ts for the context each reads.
addStackFromContext(app);

// An unacknowledged AwsSolutions finding fails synth; the report lands in cdk.out.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
