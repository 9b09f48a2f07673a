#!/usr/bin/env node
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addStackFromContext } from './app-config';

const app = new App();

// The single-account stack (InvokeguardStack), or with -c hub=true the organization hub (InvokeguardHubStack);
// see bin/app-config.ts for the context each reads. The guard's code is the arm64 release build
// (`make synth` and `make deploy` build it first); the CLI is the repository's crate.
addStackFromContext(app, { repoRoot: path.resolve(__dirname, '..', '..') });

// An unacknowledged AwsSolutions finding fails synth; the report lands in cdk.out.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
