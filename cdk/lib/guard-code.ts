import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { AssetHashType, DockerImage, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Where the Lambda finds the packaged policies file: beside `bootstrap` in the deployment package. */
export const PACKAGED_POLICIES_PATH = '/var/task/invokers.json';
const PACKAGED_POLICIES_NAME = path.basename(PACKAGED_POLICIES_PATH);

/**
 * The guard's code: an arm64 `bootstrap` (the `invokeguard-lambda` binary) for `provided.al2023`, packaged with the
 * validated policies file beside it, so the Lambda never loads an unchecked one.
 */
export abstract class GuardCode {
  /**
   * A directory holding a built `bootstrap` (e.g. `target/lambda/invokeguard-lambda` after
   * `cargo lambda build --release --arm64 --bin invokeguard-lambda`). Its `bootstrap` and the policies file are copied
   * into the asset; nothing is built.
   */
  public static fromAsset(directory: string): GuardCode {
    return new AssetGuardCode(path.resolve(directory));
  }

  /**
   * The crate at `manifestPath` (its Cargo.toml, or the directory holding it), built at synth with
   * `cargo lambda build --release --arm64 --bin invokeguard-lambda`. Needs `cargo lambda` on PATH and the optional
   * peer dependency `cargo-lambda-cdk`.
   */
  public static fromCargo(manifestPath: string): GuardCode {
    return new CargoGuardCode(path.resolve(manifestPath));
  }

  /** The Lambda code for a guard in `scope`, with `policiesFile` packaged as `invokers.json` beside `bootstrap`. */
  public abstract bind(scope: Construct, policiesFile: string): lambda.Code;
}

class AssetGuardCode extends GuardCode {
  constructor(private readonly directory: string) {
    super();
  }

  public bind(_scope: Construct, policiesFile: string): lambda.Code {
    const bootstrap = path.join(this.directory, 'bootstrap');
    if (!fs.existsSync(bootstrap)) {
      throw new Error(`invokeguard: GuardCode.fromAsset(${this.directory}): there is no bootstrap in it. Build it with `
        + '`cargo lambda build --release --arm64 --bin invokeguard-lambda` (it lands in target/lambda/invokeguard-lambda/).');
    }
    return lambda.Code.fromAsset(this.directory, {
      // The output's hash: a new policies file is a new deployment package even when bootstrap is unchanged.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Not read by the copy: CDK caches staged assets by their options, in which the copy does not show, and two
        // guards with one bootstrap and different policies files must not share a package.
        environment: { INVOKEGUARD_PACKAGED_POLICIES: policiesFile },
        // Never used: the local copy below always succeeds, so no container runs.
        image: DockerImage.fromRegistry('scratch'),
        local: {
          tryBundle(outputDir: string): boolean {
            fs.copyFileSync(bootstrap, path.join(outputDir, 'bootstrap'));
            fs.chmodSync(path.join(outputDir, 'bootstrap'), 0o755);
            fs.copyFileSync(policiesFile, path.join(outputDir, PACKAGED_POLICIES_NAME));
            return true;
          },
        },
      },
    });
  }
}

class CargoGuardCode extends GuardCode {
  constructor(private readonly manifestPath: string) {
    super();
  }

  public bind(scope: Construct, policiesFile: string): lambda.Code {
    if (Stack.of(scope).bundlingRequired) {
      requireCargoLambda();
    }
    const Bundling = cargoLambdaBundling();
    return Bundling.bundle({
      manifestPath: this.manifestPath,
      binaryName: 'invokeguard-lambda',
      architecture: lambda.Architecture.ARM_64,
      // Not read by the build: it keeps CDK's asset cache from giving two guards of one crate the same package.
      environment: { INVOKEGUARD_PACKAGED_POLICIES: policiesFile },
      commandHooks: {
        beforeBundling: () => [],
        afterBundling: (_inputDir: string, outputDir: string) => [
          `cp ${shellQuote(policiesFile)} ${shellQuote(path.posix.join(outputDir, PACKAGED_POLICIES_NAME))}`,
        ],
      },
    });
  }
}

/** cargo-lambda-cdk's bundler, loaded only here: a caller with a prebuilt bootstrap needs neither it nor cargo. */
function cargoLambdaBundling(): { bundle(options: Record<string, unknown>): lambda.Code } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('cargo-lambda-cdk/lib/bundling') as { Bundling: { bundle(options: Record<string, unknown>): lambda.Code } }).Bundling;
  } catch (e) {
    throw new Error('invokeguard: GuardCode.fromCargo needs the optional peer dependency cargo-lambda-cdk '
      + `(npm install cargo-lambda-cdk@0.0.36), or use GuardCode.fromAsset with a built bootstrap: ${(e as Error).message}`);
  }
}

/** Without cargo-lambda, cargo-lambda-cdk silently falls back to Docker, which this project does not use. */
function requireCargoLambda(): void {
  const probe = spawnSync('cargo', ['lambda', '--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('invokeguard: `cargo lambda` is not on PATH, so GuardCode.fromCargo cannot build the guard. '
      + 'Install it (the repository\'s scripts/bootstrap.sh puts it in .venv/bin), or build the bootstrap once and use GuardCode.fromAsset.');
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
