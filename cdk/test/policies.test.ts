import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { effectiveMode, loadPolicies } from '../lib/policies';
import { App } from 'aws-cdk-lib';
import { InvokeguardCli } from '../lib/cli';
import { InvokeguardStack } from '../lib/invokeguard-stack';
import { ACCEPT_ALL, FIXTURES, guardStack, guardTemplate, NO_BUNDLING, POLICIES, RUST_CLI, STUB_CODE, validatorCli } from './helpers';

// Stand-in validators: `sh -c SCRIPT sh FILE` gets the policies file as $1, like the Rust CLI.
const sh = (script: string) => ['sh', '-c', script, 'sh'];
/** `loadPolicies`'s validation step with `command` as the CLI's `validate`. */
const run = (command: readonly string[]) => (file: string) => validatorCli(command).validate(file);

test('the validator runs on the policies file and the stack is derived only after it accepts it', () => {
  const seen = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ig-')), 'args');
  const loaded = loadPolicies(POLICIES, run(sh(`printf '%s' "$1" > ${seen}`)));
  assert.equal(fs.readFileSync(seen, 'utf8'), POLICIES);
  assert.deepEqual(loaded.functions.map((f) => f.key), ['BlogFunction', 'arn:aws:lambda:eu-west-1:123456789012:function:Billing']);
  assert.deepEqual(loaded.functions[0].qualifiers, ['prod']);
  assert.equal(loaded.defaultMode, 'enforce');
  assert.equal(loaded.functions[0].mode, 'report');
  assert.equal(loaded.functions[1].mode, undefined);
});

// functionUrl entries, `action` on account/principal/organization, `eventSourceToken` and `apply`.
const POLICIES_2026 = path.join(FIXTURES, 'invokers-2026.json');

test('a file with the new allow-entry fields and apply settings loads, and builds a stack', () => {
  const loaded = loadPolicies(POLICIES_2026, run(ACCEPT_ALL));
  assert.deepEqual(loaded.functions.map((f) => [f.key, f.qualifiers, f.mode, f.apply]), [
    ['BlogFunction', ['prod'], undefined, 'permissions'],
    ['OrdersHandler', [], 'report', 'document'],
  ]);
  assert.equal(loaded.defaultApply, 'document');
  const template = guardTemplate({ policiesFile: POLICIES_2026 });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnfixedGrants' });
});

test('each function runs in the mode the Rust guard gives it: report overrides all, enforce only the default', () => {
  const loaded = loadPolicies(POLICIES, run(ACCEPT_ALL));
  const [blog, billing] = loaded.functions;
  const modes = (override?: 'enforce' | 'report') => [blog, billing].map((f) => effectiveMode(loaded, f, override));
  assert.deepEqual(modes(), ['report', 'enforce']);
  assert.deepEqual(modes('enforce'), ['report', 'enforce']);
  assert.deepEqual(modes('report'), ['report', 'report']);
  assert.deepEqual(effectiveMode({ ...loaded, defaultMode: undefined }, billing), 'enforce');
});

test('an invalid file (exit 2) stops synth with the validator message', () => {
  const invalid = sh('echo "$1:7:15: functions.BlogFunction.allow[0]: unknown field \\"servce\\"" >&2; exit 2');
  assert.throws(() => guardTemplate({ cli: validatorCli(invalid) }),
    (e: Error) => /policies file .*invokers\.json is invalid/.test(e.message)
      && /invokers\.json:7:15: functions\.BlogFunction\.allow\[0\]: unknown field "servce"/.test(e.message));
});

test('a validator that cannot build or run fails synth clearly', () => {
  assert.throws(() => loadPolicies(POLICIES, run(sh('echo "error[E0425]: cannot find value" >&2; exit 101'))),
    /validator `sh -c .*` failed \(exit code 101\); synth stops here:\nerror\[E0425\]/);
  assert.throws(() => loadPolicies(POLICIES, run(['/nonexistent/invokeguard', 'validate'])),
    /could not run the policies validator `\/nonexistent\/invokeguard validate .*invokers\.json`: .*ENOENT/);
});

test('the CLI runs `invokeguard validate` with the guard function and, when known, its home, then the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-cli-'));
  const bin = path.join(dir, 'invokeguard');
  fs.writeFileSync(bin, `#!/bin/sh\nprintf '%s ' "$@" > ${dir}/args\n`, { mode: 0o755 });
  const cli = InvokeguardCli.fromBinary(bin);
  cli.validate(POLICIES, { guardFunction: 'invokeguard', home: { account: '123456789012', region: 'eu-west-1' } });
  assert.equal(fs.readFileSync(path.join(dir, 'args'), 'utf8'),
    `validate --guard-function invokeguard --account 123456789012 --region eu-west-1 ${POLICIES} `);
  cli.validate(POLICIES);
  assert.equal(fs.readFileSync(path.join(dir, 'args'), 'utf8'), `validate ${POLICIES} `);
  // A guard without a functionName (a generated one) is validated without --guard-function.
  guardStack({ cli, functionName: undefined }, undefined, undefined, false);
  assert.equal(fs.readFileSync(path.join(dir, 'args'), 'utf8'), `validate --account 123456789012 --region eu-west-1 ${POLICIES} `);
});

test('a missing policies file or one guarding nothing is rejected', () => {
  assert.throws(() => loadPolicies(path.join(FIXTURES, 'absent.json'), run(ACCEPT_ALL)), /absent\.json does not exist/);
  const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ig-')), 'invokers.json');
  fs.writeFileSync(empty, '{"version":1,"functions":{}}');
  assert.throws(() => loadPolicies(empty, run(ACCEPT_ALL)), /guards no function/);
});

test('a same-named function in another account or region is not the guard itself', () => {
  guardStack({ functionName: 'Billing' }, new App({ context: NO_BUNDLING }), { account: '999999999999', region: 'eu-west-1' });
  guardStack({ functionName: 'Billing' }, new App({ context: NO_BUNDLING }), { account: '123456789012', region: 'us-east-1' });
});

test('a policies file listing the guard itself is rejected, by name or by ARN', () => {
  assert.throws(() => guardTemplate({ policiesFile: path.join(FIXTURES, 'guards-itself.json'), functionName: 'invokeguard' }),
    /lists the guard's own function "invokeguard"; the guard must not guard itself/);
  assert.throws(() => guardTemplate({ functionName: 'BlogFunction' }), /lists the guard's own function "BlogFunction"/);
  assert.throws(() => guardTemplate({ functionName: 'Billing' }),
    /lists the guard's own function "arn:aws:lambda:eu-west-1:123456789012:function:Billing"/);
  // A guarded name that merely starts with the guard's name is fine.
  guardTemplate({ functionName: 'Blog' });
});

// The real Rust CLI; scripts/cdk-test.sh builds it first and sets this variable, so a plain `npm test` stays fast.
const rust = process.env.INVOKEGUARD_TEST_RUST_VALIDATOR === '1';
test('the Rust validator accepts the fixtures and rejects an unknown field and the guard itself', { skip: !rust && 'set INVOKEGUARD_TEST_RUST_VALIDATOR=1' }, () => {
  {
    guardTemplate({ cli: RUST_CLI });
    guardTemplate({ policiesFile: POLICIES_2026, cli: RUST_CLI });
    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ig-')), 'invokers.json');
    fs.writeFileSync(bad, '{"version":1,"functions":{"A":{"allow":[{"servce":"x"}]}}}');
    assert.throws(() => guardTemplate({ policiesFile: bad, cli: RUST_CLI }), /is invalid:\n.*invokers\.json:1:\d+: .*servce/);
    assert.throws(() => guardTemplate({ functionName: 'BlogFunction', cli: RUST_CLI }),
      /is invalid:\n.*"BlogFunction" is the guard function itself/);
    // One function keyed by its name and by its ARN in the stack's account and region: synth fails, with the place.
    const twice = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ig-')), 'invokers.json');
    fs.writeFileSync(twice, '{"version": 1, "functions": {"Blog": {"allow": []},\n "arn:aws:lambda:eu-west-1:123456789012:function:Blog": {"allow": []}}}');
    assert.throws(() => guardTemplate({ policiesFile: twice, cli: RUST_CLI }),
      /is invalid:\n.*invokers\.json:2:2: at functions\.arn:aws:lambda:eu-west-1:123456789012:function:Blog: the function is keyed both by its name "Blog"/);
    // In another account the ARN is another function; with the environment unknown at synth, the guard's init checks it.
    guardStack({ policiesFile: twice, cli: RUST_CLI }, new App({ context: NO_BUNDLING }), { account: '999999999999', region: 'eu-west-1' });
    new InvokeguardStack(new App({ context: NO_BUNDLING }), 'Agnostic', { guard: { policiesFile: twice, code: STUB_CODE, cli: RUST_CLI }, athena: false });
  }
});
