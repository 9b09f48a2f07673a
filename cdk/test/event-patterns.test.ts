import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { InvokeguardHubStack } from '../lib/hub-stack';
import { InvokeguardStack } from '../lib/invokeguard-stack';
import { REPO_ROOT } from './helpers';
import { FIXTURES, guardStack, manyFunctions, NO_BUNDLING, POLICIES, STUB_CLI, STUB_CODE } from './helpers';

// LocalStack's rule engine from .venv (scripts/bootstrap.sh) and the built CLI; scripts/cdk-test.sh sets this variable
// after installing both, so a plain `npm test` stays fast.
const run = process.env.INVOKEGUARD_TEST_EVENT_PATTERNS === '1';

/** Every kind of Invoke rule: single account (concrete and environment-agnostic, one rule and several), hub bus, member. */
function templates(dir: string): string[] {
  const hub = new InvokeguardHubStack(new App({ context: NO_BUNDLING }), 'Hub', {
    env: { account: '999999999999', region: 'eu-west-1' },
    guard: { policiesFile: path.join(FIXTURES, 'org-invokers-hub-account.json'), code: STUB_CODE, cli: STUB_CLI },
    organizationId: 'o-a1b2c3d4e5',
    memberOrganizationalUnits: ['ou-ab12-abcdefgh'],
   
  });
  const all: Record<string, unknown> = {
    single: Template.fromStack(guardStack()).toJSON(),
    agnostic: Template.fromStack(new InvokeguardStack(new App({ context: NO_BUNDLING }), 'Agnostic', {
      guard: { policiesFile: POLICIES, code: STUB_CODE, cli: STUB_CLI }, athena: false,
    })).toJSON(),
    split: Template.fromStack(guardStack({ policiesFile: manyFunctions(60, 'a-function-with-a-rather-long-name-') })).toJSON(),
    hub: Template.fromStack(hub).toJSON(),
    member: hub.memberTemplates[0],
  };
  return Object.entries(all).map(([name, template]) => {
    const file = path.join(dir, `${name}.template.json`);
    fs.writeFileSync(file, JSON.stringify(template));
    return file;
  });
}

test('the synthesized Invoke rules let guarded records through and drop refused and unguarded ones (LocalStack\'s engine)',
  { skip: !run && 'set INVOKEGUARD_TEST_EVENT_PATTERNS=1 (scripts/cdk-test.sh does)' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-patterns-'));
    const cli = path.join(process.env.CARGO_TARGET_DIR ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : path.join(REPO_ROOT, 'target'), 'debug', 'invokeguard');
    const result = spawnSync('python3', [
      path.join(REPO_ROOT, 'scripts', 'event-patterns-test.py'), '--invokeguard', cli, ...templates(dir),
    ], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    // Every kind of rule was checked: five templates, the split one with several Invoke rules.
    const [, rules] = /(\d+) Invoke rule\(s\)/.exec(result.stdout) ?? [];
    assert.ok(Number(rules) >= 7, result.stdout);
  });
