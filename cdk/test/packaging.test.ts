import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { guardStack, POLICIES } from './helpers';

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

test('without cargo-lambda on PATH, synth fails with how to get it instead of trying Docker', () => {
  withCargo('#!/bin/sh\nexit 1\n', () => {
    assert.throws(() => guardStack({}, new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'ig-out-')) })),
      /`cargo lambda` is not on PATH.*scripts\/bootstrap\.sh/);
  });
});

test('the asset holds the arm64 release bootstrap and the validated policies file beside it', () => {
  withCargo(FAKE_CARGO, () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-out-'));
    const app = new App({ outdir });
    guardStack({}, app);
    app.synth();
    const args = fs.readFileSync(process.env.FAKE_CARGO_LOG!, 'utf8');
    assert.match(args, /lambda build --lambda-dir \S+ --release --arm64 --bin invokeguard-lambda --flatten invokeguard-lambda/);
    const assets = JSON.parse(fs.readFileSync(path.join(outdir, 'Test.assets.json'), 'utf8')).files;
    const zips = Object.values(assets as Record<string, { source: { path: string; packaging?: string } }>)
      .filter((a) => a.source.packaging === 'zip');
    assert.equal(zips.length, 1);
    const dir = path.join(outdir, zips[0].source.path);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['bootstrap', 'invokers.json']);
    assert.equal(fs.readFileSync(path.join(dir, 'invokers.json'), 'utf8'), fs.readFileSync(POLICIES, 'utf8'));
  });
});
