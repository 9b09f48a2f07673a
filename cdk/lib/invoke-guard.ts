import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { GuardAlarms } from './guard-alarms';
import {
  changeEventPattern, foreignArns, GUARD_LAMBDA_ACTIONS, guardedArns, invokeEventPatterns, memberInvokeEventPatterns, namesGuard, ownAccountArns,
  partId, policyResourceArns,
} from './guarded-functions';
import { GuardQueries } from './insights-queries';
import { InvokeTrail } from './invoke-trail';
import { acknowledgeGuardFindings } from './nag-acknowledgements';
import { GuardNotifications } from './notifications';
import { defaultValidatorCommand, effectiveMode, GUARD_MODES, GuardMode, loadPolicies, LoadedPolicies, REPO_ROOT } from './policies';
import { DEFAULT_SWEEP_SCHEDULE, sweepSchedule, sweepScheduleError } from './sweep-schedule';
import { TrailFileBackstop } from './trail-file-backstop';

/** The guard's environment variable holding its home account (its region is Lambda's `AWS_REGION`). */
export const HOME_ACCOUNT_ENV = 'INVOKEGUARD_HOME_ACCOUNT';

/** The guard's environment variable holding its execution role's ARN. */
export const ROLE_ARN_ENV = 'INVOKEGUARD_ROLE_ARN';

/** Where the Lambda finds the packaged policies file: beside `bootstrap` in the deployment package. */
export const PACKAGED_POLICIES_PATH = '/var/task/invokers.json';

export interface InvokeGuardProps {
  /** Path of the policies file (invokers.json); validated with the Rust CLI, then packaged with the guard. */
  readonly policiesFile: string;

  /**
   * Command that validates the policies file; the file path is appended. Exit 0 valid, 2 invalid.
   * @default - `$INVOKEGUARD_VALIDATOR` split on spaces, else
   *   `cargo run --bin invokeguard -- validate --guard-function <functionName>`
   */
  readonly validatorCommand?: string[];

  /**
   * Cargo.toml of the crate holding the `invokeguard-lambda` binary.
   * @default - the repository's root Cargo.toml
   */
  readonly manifestPath?: string;

  /**
   * Name of the guard function; a policies file that guards this name is rejected.
   * @default 'invokeguard'
   */
  readonly functionName?: string;

  /**
   * Overrides the file's `defaults.mode` (INVOKEGUARD_MODE): `report` only logs and notifies.
   * @default - the mode the policies file sets
   */
  readonly mode?: GuardMode;

  /** @default 128 */
  readonly memorySize?: number;

  /**
   * Long enough for a sweep of every guarded policy; the guard stops early, and fails visibly, when it nears.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;

  /**
   * Keeps the guard's control-plane calls under Lambda's 15 requests/s per account and region.
   * @default 2
   */
  readonly reservedConcurrentExecutions?: number;

  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;

  /**
   * How often the guard sweeps every guarded policy (aliases included): an EventBridge `rate(...)` or
   * `cron(...)` expression, or `off` for no schedule rule. Validated at synth.
   * @default 'rate(1 hour)'
   */
  readonly sweepSchedule?: string;

  /**
   * How long EventBridge retries delivering an event (Invoke, change or sweep) before it goes to the dead-letter queue.
   * @default Duration.hours(2)
   */
  readonly maxEventAge?: Duration;

  /** @default 8 */
  readonly retryAttempts?: number;

  /**
   * Create a trail logging Invoke data events of the guarded functions. Set false when an existing
   * trail already has the selectors listed in the README (Deploy to AWS).
   * @default true
   */
  readonly createTrail?: boolean;

  /**
   * How long the created trail's log files are kept. Not allowed with `createTrail: false`.
   * @default Duration.days(365)
   */
  readonly trailLogExpiration?: Duration;

  /**
   * Name of the event bus created for notifications. Not allowed with `existingEventBus`.
   * @default 'invokeguard'
   */
  readonly eventBusName?: string;

  /**
   * Bus the guard puts notifications on, instead of creating one.
   * @default - a new bus named `eventBusName`
   */
  readonly existingEventBus?: events.IEventBus;

  /**
   * Email address subscribed to the alerts topic.
   * @default - no subscription
   */
  readonly alertEmail?: string;

  /**
   * Bus the Invoke and change rules listen on. A hub guard (InvokeguardHubStack) passes the hub bus that the
   * member accounts forward their events to; their functions are then expected in other accounts, so no
   * `invokeguard:foreignFunction` warning is given.
   * @default - the account's default bus
   */
  readonly sourceEventBus?: events.IEventBus;

  /**
   * Grant the guard's role the Lambda actions (GetPolicy, AddPermission, ..., ListAliases) only on the guarded functions
   * of the stack's own account, and none at all when there are none. A hub guard sets it: it reaches the functions of
   * other accounts through their member role, so grants on them in its own role would have no effect and mislead a
   * reviewer. With the stack's account unknown at synth, every function is granted (it cannot tell which are local).
   * @default false
   */
  readonly ownAccountGrantsOnly?: boolean;

  /**
   * With `sourceEventBus`: the guarded functions of the stack's own account (name keys, and ARN keys of its account) get
   * their Invoke and change rules on the account's default bus, as in a single-account stack, and the source bus's
   * Invoke rule lists only the other functions. A hub sets it: no member stack forwards its own account's events (a
   * StackSet never deploys to the management account). With the account unknown at synth, no function counts as its own.
   * @default false
   */
  readonly ownAccountOnDefaultBus?: boolean;
}

/**
 * Watches Invoke events of the functions in a policies file and the management events that change who may
 * invoke them, runs the invokeguard Lambda on each and on a periodic sweep, with the trail, rules,
 * dead-letter queue, notifications, alarms and saved queries it needs.
 */
export class InvokeGuard extends Construct {
  public readonly policies: LoadedPolicies;
  public readonly guardedFunctionArns: string[];
  /** The guarded functions the guard's own role may manage (all of them, unless `ownAccountGrantsOnly`). */
  public readonly roleFunctionArns: string[];
  public readonly function: lambda.Function;
  public readonly logGroup: logs.LogGroup;
  public readonly deadLetterQueue: sqs.Queue;
  /** The Invoke rules: one, or several when the guarded functions' ARNs exceed one event pattern's size. */
  public readonly invokeRules: events.Rule[];
  /** Management events that change who may invoke a function (permissions, policies, URLs, aliases). */
  public readonly changeRule: events.Rule;
  /**
   * The guarded functions whose Invoke rule is on the account's default bus: all of them, or with `sourceEventBus` those
   * `ownAccountOnDefaultBus` picks (none without it).
   */
  public readonly defaultBusFunctionArns: string[];
  /** With `ownAccountOnDefaultBus`, the Invoke and change rules on the default bus for `defaultBusFunctionArns`. */
  public readonly ownAccountRules?: { readonly invokeRules: events.Rule[]; readonly changeRule: events.Rule };
  /** The periodic sweep; absent with `sweepSchedule: 'off'`. */
  public readonly sweepRule?: events.Rule;
  public readonly eventBus: events.IEventBus;
  public readonly alertsTopic: sns.ITopic;
  public readonly trail?: InvokeTrail;
  /** The mode the guard runs each guarded function in (key of `functions` to mode), file and `mode` prop combined. */
  public readonly functionModes: ReadonlyMap<string, GuardMode>;
  public readonly alarms: GuardAlarms;
  /** New trail log files to the guard, and the notification dedup table; only with the trail this construct creates. */
  public readonly trailFileBackstop?: TrailFileBackstop;
  /**
   * The guard role's inline policy: the backstop (and a hub's AssumeRole statement) add their statements here
   * (no separate AWS::IAM::Policy).
   */
  public rolePolicy!: iam.PolicyDocument;
  /** A new target delivering to the guard like its rules do (same retries and dead-letter queue), for further rules. */
  public readonly newTarget: () => events.IRuleTarget;

  constructor(scope: Construct, id: string, props: InvokeGuardProps) {
    super(scope, id);
    checkProps(props);
    const stack = Stack.of(this);
    const functionName = props.functionName ?? 'invokeguard';

    const home = Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)
      ? undefined : { account: stack.account, region: stack.region };
    this.policies = loadPolicies(props.policiesFile, props.validatorCommand ?? defaultValidatorCommand(props.manifestPath, functionName, home));
    const self = this.policies.functions.find((f) => namesGuard(stack, f.key, functionName));
    if (self) {
      throw new Error(`invokeguard: ${this.policies.file} lists the guard's own function "${self.key}"; `
        + 'the guard must not guard itself (its own invocations would trigger it). Remove that entry or rename the guard.');
    }
    this.guardedFunctionArns = guardedArns(stack, this.policies.functions);
    this.roleFunctionArns = props.ownAccountGrantsOnly ? ownAccountArns(stack, this.guardedFunctionArns) : [...this.guardedFunctionArns];
    if (props.ownAccountGrantsOnly && Token.isUnresolved(stack.account)) {
      Annotations.of(this).addWarningV2('invokeguard:accountUnknown', 'The stack\'s account is not known at synth, so the guard\'s '
        + 'role is granted the Lambda actions on every guarded function, also those it reaches through member roles. Give '
        + 'the stack an env (account) to grant only its own account\'s functions.');
    }
    this.functionModes = new Map(this.policies.functions.map((f) => [f.key, effectiveMode(this.policies, f, props.mode)]));
    this.defaultBusFunctionArns = !props.sourceEventBus ? [...this.guardedFunctionArns]
      : props.ownAccountOnDefaultBus && !Token.isUnresolved(stack.account) ? ownAccountArns(stack, this.guardedFunctionArns) : [];
    for (const arn of props.sourceEventBus ? [] : foreignArns(stack, this.guardedFunctionArns)) {
      Annotations.of(this).addWarningV2('invokeguard:foreignFunction', `${arn} is not in this stack's account and region; `
        + 'the guard only receives Invoke events and can only rewrite policies there. Deploy another stack for it.');
    }
    // A hub's own function in another region: its events reach that region's default bus, where no rule of this stack is.
    for (const arn of props.sourceEventBus ? foreignArns(stack, this.defaultBusFunctionArns) : []) {
      Annotations.of(this).addWarningV2('invokeguard:ownFunctionOtherRegion', `${arn} is in this stack's account but not its `
        + 'region: its events reach the default bus of its own region, where no rule forwards them, so only the sweep (and '
        + 'the trail-file backstop of an organization trail) see it.');
    }

    if (props.createTrail ?? true) {
      this.trail = new InvokeTrail(this, 'InvokeTrail', {
        functionArns: this.guardedFunctionArns,
        logExpiration: props.trailLogExpiration ?? Duration.days(365),
      });
    }

    const notifications = new GuardNotifications(this, 'Notifications', {
      existingEventBus: props.existingEventBus,
      eventBusName: props.eventBusName ?? 'invokeguard',
      alertEmail: props.alertEmail,
    });
    this.eventBus = notifications.eventBus;
    this.alertsTopic = notifications.topic;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
    });

    this.function = this.createFunction(props, functionName);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // Every rule delivers to the guard the same way: retried, then parked in the dead-letter queue.
    const guardTarget = () => new targets.LambdaFunction(this.function, {
      deadLetterQueue: this.deadLetterQueue,
      maxEventAge: props.maxEventAge ?? Duration.hours(2),
      retryAttempts: props.retryAttempts ?? 8,
    });
    this.newTarget = guardTarget;
    // On a source bus, the Invoke rules cover only the functions whose events arrive there (a hub's members'), by account.
    const sourceArns = props.sourceEventBus
      ? this.guardedFunctionArns.filter((arn) => !this.defaultBusFunctionArns.includes(arn)) : this.guardedFunctionArns;
    const main = this.eventRules('', props.sourceEventBus, sourceArns, guardTarget, props.sourceEventBus !== undefined);
    this.invokeRules = main.invokeRules;
    this.changeRule = main.changeRule;
    if (props.sourceEventBus && this.defaultBusFunctionArns.length > 0) {
      this.ownAccountRules = this.eventRules('OwnAccount', undefined, this.defaultBusFunctionArns, guardTarget);
    }
    const schedule = sweepSchedule(props.sweepSchedule ?? DEFAULT_SWEEP_SCHEDULE);
    if (schedule) {
      this.sweepRule = new events.Rule(this, 'SweepRule', {
        description: 'Periodic invokeguard sweep of every guarded resource policy',
        schedule,
        // No custom input: the guard recognises the standard `aws.events` / `Scheduled Event` event.
        targets: [guardTarget()],
      });
    }

    this.alarms = new GuardAlarms(this, 'Alarms', {
      guard: this.function,
      logGroup: this.logGroup,
      deadLetterQueue: this.deadLetterQueue,
      topic: this.alertsTopic,
      // The UnfixedGrants alarm would fire on every violation in report mode; see GuardAlarms.
      enforces: [...this.functionModes.values()].includes('enforce'),
    });
    new GuardQueries(this, 'Queries', { logGroup: this.logGroup, folder: functionName });
    if (this.trail) {
      this.trailFileBackstop = new TrailFileBackstop(this, 'TrailFileBackstop', {
        bucket: this.trail.bucket, guard: this.function, guardPolicy: this.rolePolicy, target: guardTarget(),
        logGroup: this.logGroup, queryFolder: functionName,
      });
    }
    // createTrail: false: no backstop (and no dedup table). To add it for the existing trail, turn on EventBridge
    // notifications on its bucket and create a TrailFileBackstop here with s3.Bucket.fromBucketName(...): the
    // same rule, plus GetObject on its log files and the dedup table (see TrailFileBackstop).

    acknowledgeGuardFindings({
      trailBucket: this.trail?.bucket,
      role: this.function.role!,
      deadLetterQueue: this.deadLetterQueue,
      guardedFunctionArns: this.roleFunctionArns,
    });
  }

  private createFunction(props: InvokeGuardProps, functionName: string): lambda.Function {
    const manifestPath = props.manifestPath ?? path.join(REPO_ROOT, 'Cargo.toml');
    if (Stack.of(this).bundlingRequired) {
      requireCargoLambda();
    }
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'invokeguard: rewrites the resource policies of the guarded functions only',
      inlinePolicies: {
        invokeguard: this.rolePolicy = new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'WriteOwnLogs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [this.logGroup.logGroupArn],
            }),
            ...this.lambdaStatements(),
            new iam.PolicyStatement({
              sid: 'Notify',
              actions: ['events:PutEvents'],
              resources: [this.eventBus.eventBusArn],
            }),
          ],
        }),
      },
    });

    const policiesFile = this.policies.file;
    const env: Record<string, string> = {
      INVOKEGUARD_POLICIES: PACKAGED_POLICIES_PATH,
      INVOKEGUARD_EVENT_BUS: this.eventBus.eventBusName,
      // The guard's home (with AWS_REGION, which Lambda sets): it validates the file against it at init and knows itself
      // by its full ARN, instead of learning both from the first invocation.
      [HOME_ACCOUNT_ENV]: Stack.of(this).account,
      // Its own role, by which it recognises its own policy changes in the change events.
      [ROLE_ARN_ENV]: role.roleArn,
    };
    if (props.mode) {
      env.INVOKEGUARD_MODE = props.mode;
    }
    const fn = new RustFunction(this, 'Function', {
      functionName,
      description: 'invokeguard: keeps Lambda resource policies to the allowlist in invokers.json',
      manifestPath,
      binaryName: 'invokeguard-lambda',
      runtime: 'provided.al2023',
      bundling: {
        architecture: lambda.Architecture.ARM_64,
        commandHooks: {
          beforeBundling: () => [],
          // The packaged copy is the file that was just validated, so the Lambda never loads an unchecked one.
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp ${shellQuote(policiesFile)} ${shellQuote(path.posix.join(outputDir, path.basename(PACKAGED_POLICIES_PATH)))}`,
          ],
        },
      },
      role,
      memorySize: props.memorySize ?? 128,
      timeout: props.timeout ?? Duration.minutes(5),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? 2,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: env,
    });
    // The Role GetAtt already orders the two, and the role carries its policy inline; the extra
    // DependsOn the L2 adds is what cfn-lint W3005 flags.
    (fn.node.defaultChild as lambda.CfnFunction).addDeletionOverride('DependsOn');
    return fn;
  }

  /**
   * The Invoke rules of `functionArns` and the change rule on `eventBus` (undefined: the default bus), ids prefixed with
   * `idPrefix`. The same patterns wherever the events arrive: a hub's own functions are guarded like a single account's.
   * On a hub bus (`byAccount`) the Invoke rules match the functions' accounts: their forwarding rules already picked
   * the functions.
   */
  private eventRules(
    idPrefix: string, eventBus: events.IEventBus | undefined, functionArns: readonly string[], target: () => events.IRuleTarget,
    byAccount = false,
  ): { invokeRules: events.Rule[]; changeRule: events.Rule } {
    const stack = Stack.of(this);
    const accounts = [...new Set(functionArns.map((arn) => (Token.isUnresolved(arn) ? stack.account : arn.split(':')[4])))];
    const patterns = byAccount ? memberInvokeEventPatterns(this, accounts) : invokeEventPatterns(this, functionArns);
    const invokeRules = patterns.map((eventPattern, i) => new events.Rule(this, partId(`${idPrefix}InvokeRule`, i), {
      eventBus,
      description: byAccount
        ? 'CloudTrail Invoke and InvokeFunctionUrl events of guarded functions, forwarded by member accounts'
        : 'CloudTrail Invoke and InvokeFunctionUrl events of the functions guarded by invokeguard'
          + (patterns.length > 1 ? ` (part ${i + 1} of ${patterns.length})` : ''),
      eventPattern,
      targets: [target()],
    }));
    const changeRule = new events.Rule(this, `${idPrefix}ChangeRule`, {
      eventBus,
      description: 'CloudTrail management events that change who may invoke a function (permissions, policies, URLs, aliases)',
      eventPattern: changeEventPattern(),
      targets: [target()],
    });
    return { invokeRules, changeRule };
  }

  /** The Lambda actions on the functions the role manages; none without such functions (IAM rejects an empty Resource). */
  private lambdaStatements(): iam.PolicyStatement[] {
    const arns = this.roleFunctionArns;
    if (arns.length === 0) {
      return [];
    }
    return [
      new iam.PolicyStatement({
        sid: 'ManageGuardedResourcePolicies',
        // Read with GetPolicy; write per statement (Add/RemovePermission) or, with `apply: document`
        // and as the fallback, the whole document (PutResourcePolicy, or DeleteResourcePolicy when
        // no statement is left). GetResourcePolicy is not granted: the guard reads with GetPolicy only.
        // The sweep finds every published version's and alias's policy (ListVersionsByFunction, ListAliases).
        actions: [...GUARD_LAMBDA_ACTIONS],
        resources: policyResourceArns(arns),
      }),
    ];
  }
}

/** Rejects combinations that would silently ignore one of the props (aws-solutions-constructs style). */
function checkProps(props: InvokeGuardProps): void {
  const errors: string[] = [];
  if (props.existingEventBus && props.eventBusName !== undefined) {
    errors.push('Error - Either provide existingEventBus or eventBusName, but not both.');
  }
  if (props.createTrail === false && props.trailLogExpiration !== undefined) {
    errors.push('Error - trailLogExpiration applies to the trail this construct creates; it cannot be set with createTrail: false.');
  }
  if (props.mode !== undefined && !GUARD_MODES.includes(props.mode)) {
    errors.push(`Error - mode must be one of ${GUARD_MODES.join(', ')}, got "${props.mode}".`);
  }
  const concurrency = props.reservedConcurrentExecutions;
  if (concurrency !== undefined && !Token.isUnresolved(concurrency) && concurrency < 1) {
    errors.push('Error - reservedConcurrentExecutions must be at least 1; 0 would stop the guard.');
  }
  if (props.alertEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(props.alertEmail)) {
    errors.push(`Error - alertEmail "${props.alertEmail}" is not an email address.`);
  }
  const sweepError = props.sweepSchedule === undefined ? undefined : sweepScheduleError(props.sweepSchedule);
  if (sweepError) {
    errors.push(`Error - ${sweepError}`);
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}

/** Without cargo-lambda, cargo-lambda-cdk silently falls back to Docker, which this project does not use. */
function requireCargoLambda(): void {
  const probe = spawnSync('cargo', ['lambda', '--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('invokeguard: `cargo lambda` is not on PATH, so the guard cannot be built. '
      + 'Run scripts/bootstrap.sh and put .venv/bin on PATH (scripts/cdk-test.sh does both).');
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
