#!/usr/bin/env bash
# Proves the CDK construct package is importable by another app: packs cdk/ (npm pack), installs the tarball into a
# fresh app in a temporary folder outside the repository (its own package.json, aws-cdk-lib and constructs pinned to
# cdk/'s versions, from the npm cache or the registry), synthesizes a guard (with Athena) and a hub there with policies
# files of the app's own, a placeholder bootstrap (a tiny shell script: synth only packages it) and a copy of the CLI
# binary, then asserts on the templates with aws-cdk-lib/assertions and checks no path into this repository is used.
# Usage: scripts/cdk-consumer-test.sh [CLI]   (CLI: a built `invokeguard`; default the debug build of this crate)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
cli=${1:-$target/debug/invokeguard}
[ -x "$cli" ] || { echo "cdk-consumer-test: no CLI at $cli; run cargo build --bin invokeguard first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/invokeguard-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
version_of() { node -p "require('$root/cdk/package.json').devDependencies['$1']"; }

echo "cdk-consumer-test: npm pack (builds dist/ first)"
(cd "$root/cdk" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball=$(cd "$work" && ls invokeguard-cdk-*.tgz)

app="$work/app"
mkdir -p "$app/bin" "$app/lambda"
cp "$cli" "$app/bin/invokeguard"
printf '#!/bin/sh\n# placeholder bootstrap: this app only synthesizes\n' > "$app/lambda/bootstrap"
chmod +x "$app/lambda/bootstrap"
cat > "$app/package.json" <<EOF
{
  "name": "invokeguard-consumer",
  "version": "0.0.0",
  "private": true,
  "dependencies": {
    "aws-cdk-lib": "$(version_of aws-cdk-lib)",
    "constructs": "$(version_of constructs)",
    "invokeguard-cdk": "file:../$tarball"
  }
}
EOF
cat > "$app/invokers.json" <<'EOF'
{
  "version": 1,
  "functions": {
    "Orders": {
      "allow": [{ "service": "sns.amazonaws.com", "sourceArn": "arn:aws:sns:eu-west-1:123456789012:orders",
                  "sourceAccount": "123456789012", "reason": "order events topic" }]
    }
  }
}
EOF
cat > "$app/org-invokers.json" <<'EOF'
{
  "version": 1,
  "functions": {
    "arn:aws:lambda:eu-west-1:111111111111:function:Orders": {
      "allow": [{ "account": "333333333333", "reason": "finance batch jobs" }]
    }
  }
}
EOF
cat > "$app/app.js" <<'EOF'
// A CDK app of its own, using only the installed package: the README's "Use the construct in your own CDK app".
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { App, Stack } = require('aws-cdk-lib');
const { Match, Template } = require('aws-cdk-lib/assertions');
const { GuardCode, InvokeGuard, InvokeguardCli, InvokeguardHub, TrailAthena } = require('invokeguard-cdk');

const installed = require.resolve('invokeguard-cdk');
assert.ok(installed.startsWith(path.join(__dirname, 'node_modules') + path.sep), `invokeguard-cdk resolved to ${installed}`);

const app = new App({ outdir: path.join(__dirname, 'cdk.out') });
const cli = InvokeguardCli.fromBinary(path.join(__dirname, 'bin', 'invokeguard'));
const code = GuardCode.fromAsset(path.join(__dirname, 'lambda'));

const stack = new Stack(app, 'MyApp', { env: { account: '123456789012', region: 'eu-west-1' } });
const policiesFile = path.join(__dirname, 'invokers.json');
const guard = new InvokeGuard(stack, 'Guard', { policiesFile, code, cli, securityHub: true });
new TrailAthena(stack, 'GuardAthena', { trailBucket: guard.trail.bucket, policiesFile, cli });

const security = new Stack(app, 'Security', { env: { account: '999999999999', region: 'eu-west-1' } });
const hub = new InvokeguardHub(security, 'OrgGuard', {
  guard: { policiesFile: path.join(__dirname, 'org-invokers.json'), code, cli },
  organizationId: 'o-a1b2c3d4e5',
  memberOrganizationalUnits: ['ou-ab12-abcdefgh'],
});

const t = Template.fromStack(stack);
t.hasResourceProperties('AWS::Lambda::Function', {
  Handler: 'bootstrap', Runtime: 'provided.al2023', Architectures: ['arm64'],
  Environment: { Variables: Match.objectLike({ INVOKEGUARD_POLICIES: '/var/task/invokers.json', INVOKEGUARD_SECURITY_HUB: 'on' }) },
});
assert.equal(Object.values(t.findResources('AWS::Lambda::Function'))[0].Properties.FunctionName, undefined);
t.hasResourceProperties('AWS::IAM::Role', { Policies: [Match.objectLike({ PolicyDocument: Match.objectLike({
  Statement: Match.arrayWith([Match.objectLike({ Action: 'securityhub:BatchImportFindings' })]) }) })] });
t.resourceCountIs('AWS::Athena::NamedQuery', 3);
t.hasResourceProperties('AWS::Athena::NamedQuery', { QueryString: Match.stringLikeRegexp('Orders') });

const h = Template.fromStack(security);
h.resourceCountIs('AWS::CloudFormation::StackSet', 1);
assert.equal(hub.memberTemplates.length, 1);

const assembly = app.synth();
assert.deepEqual(assembly.stacks.map((s) => s.stackName).sort(), ['MyApp', 'Security']);
const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'MyApp.assets.json'), 'utf8'));
const zip = Object.values(manifest.files).find((f) => f.source.packaging === 'zip');
const packaged = path.join(assembly.directory, zip.source.path);
assert.deepEqual(fs.readdirSync(packaged).sort(), ['bootstrap', 'invokers.json']);
assert.equal(fs.readFileSync(path.join(packaged, 'invokers.json'), 'utf8'), fs.readFileSync(policiesFile, 'utf8'));

// Nothing of the synthesized app points into the repository the package came from.
const repo = process.env.INVOKEGUARD_REPO;
for (const file of fs.readdirSync(assembly.directory).filter((f) => f.endsWith('.json'))) {
  assert.ok(!fs.readFileSync(path.join(assembly.directory, file), 'utf8').includes(repo), `${file} names ${repo}`);
}
console.log('cdk-consumer-test: a guard and a hub synthesized from the packed tarball; assertions passed');
EOF

echo "cdk-consumer-test: npm install in $app"
(cd "$app" && npm install --prefer-offline --no-audit --no-fund --loglevel=error)
(cd "$app" && INVOKEGUARD_REPO="$root" node app.js)
