import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { GuardCode } from '../lib/guard-code';
import { guardStack, POLICIES, REPO_ROOT, STUB_BOOTSTRAP_DIR } from './helpers';

// A stand-in `cargo` on PATH: answers `cargo lambda --version` and "builds" a bootstrap into --lambda-dir,
// so the real bundling path (hooks, asset layout) runs in a second instead of the ~8 min arm64 build.
const FAKE_CARGO = `#!/bin/sh
[ "$1" = lambda ] || exit 1
[ "$2" = --version ] && { echo "cargo-lambda 0.0.0 (stand-in)"; exit 0; }
echo "$@" > "$FAKE_CARGO_LOG"
while [ $# -gt 0 ]; do [ "$1" = --lambda-dir ] && out=$2; shift; done
printf '#!/bin/sh\\n' > "$out/bootstrap"
`;

function withCargo(script: string, run: () => void): void {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-bin-'));
  fs.writeFileSync(path.join(bin, 'cargo'), script, { mode: 0o755 });
  const saved = { PATH: process.env.PATH, FAKE_CARGO_LOG: process.env.FAKE_CARGO_LOG };
  process.env.PATH = `${bin}:${saved.PATH}`;
  process.env.FAKE_CARGO_LOG = path.join(bin, 'args');
  try {
    run();
  } finally {
    process.env.PATH = saved.PATH;
    process.env.FAKE_CARGO_LOG = saved.FAKE_CARGO_LOG;
  }
}

const fromCargo = () => GuardCode.fromCargo(path.join(REPO_ROOT, 'Cargo.toml'));

/** The directory of the one zip asset of the stack `Test` in `outdir`. */
function zipAssetDir(outdir: string): string {
  const assets = JSON.parse(fs.readFileSync(path.join(outdir, 'Test.assets.json'), 'utf8')).files;
  const zips = Object.values(assets as Record<string, { source: { path: string; packaging?: string } }>)
    .filter((a) => a.source.packaging === 'zip');
  assert.equal(zips.length, 1);
  return path.join(outdir, zips[0].source.path);
}

test('GuardCode.fromCargo without cargo-lambda on PATH fails with how to get it instead of trying Docker', () => {
  withCargo('#!/bin/sh\nexit 1\n', () => {
    assert.throws(() => guardStack({ code: fromCargo() }, new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'ig-out-')) })),
      /`cargo lambda` is not on PATH.*scripts\/bootstrap\.sh/);
  });
});

test('GuardCode.fromCargo: the asset holds the arm64 release bootstrap and the validated policies file beside it', () => {
  withCargo(FAKE_CARGO, () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-out-'));
    const app = new App({ outdir });
    guardStack({ code: fromCargo() }, app);
    app.synth();
    const args = fs.readFileSync(process.env.FAKE_CARGO_LOG!, 'utf8');
    assert.match(args, /lambda build --lambda-dir \S+ --release --arm64 --bin invokeguard-lambda --flatten invokeguard-lambda/);
    const dir = zipAssetDir(outdir);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['bootstrap', 'invokers.json']);
    assert.equal(fs.readFileSync(path.join(dir, 'invokers.json'), 'utf8'), fs.readFileSync(POLICIES, 'utf8'));
  });
});

test('GuardCode.fromAsset: the asset is the given bootstrap, executable, with the validated policies file beside it', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-out-'));
  const app = new App({ outdir });
  guardStack({ code: GuardCode.fromAsset(STUB_BOOTSTRAP_DIR) }, app);
  app.synth();
  const dir = zipAssetDir(outdir);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['bootstrap', 'invokers.json']);
  assert.equal(fs.readFileSync(path.join(dir, 'bootstrap'), 'utf8'), fs.readFileSync(path.join(STUB_BOOTSTRAP_DIR, 'bootstrap'), 'utf8'));
  assert.ok(fs.statSync(path.join(dir, 'bootstrap')).mode & 0o100, 'bootstrap is executable');
  assert.equal(fs.readFileSync(path.join(dir, 'invokers.json'), 'utf8'), fs.readFileSync(POLICIES, 'utf8'));
});

test('GuardCode.fromAsset of a directory without a bootstrap says how to build one', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-empty-'));
  assert.throws(() => guardStack({ code: GuardCode.fromAsset(empty) }),
    /GuardCode\.fromAsset\(.*ig-empty-.*\): there is no bootstrap in it\. Build it with `cargo lambda build --release --arm64/);
});
