import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { InvokeguardCli } from './cli';
import { GuardAlarms } from './guard-alarms';
import { GuardCode, PACKAGED_POLICIES_PATH } from './guard-code';
import {
  changeEventPattern, foreignArns, GUARD_LAMBDA_ACTIONS, guardedArns, invokeEventPatterns, memberInvokeEventPatterns, namesGuard, ownAccountArns,
  partId, policyResourceArns,
} from './guarded-functions';
import { GuardQueries } from './insights-queries';
import { InvokeTrail } from './invoke-trail';
import { acknowledgeGuardFindings } from './nag-acknowledgements';
import { GuardNotifications } from './notifications';
import { effectiveMode, GUARD_MODES, GuardMode, loadPolicies, LoadedPolicies } from './policies';
import {
  fanOutReservedConcurrency, SweepFanOut, sweepFanOutErrors, SweepFanOutOptions, sweepFanOutOptions,
} from './sweep-fan-out';
import { DEFAULT_SWEEP_SCHEDULE, sweepSchedule, sweepScheduleError } from './sweep-schedule';
import { TrailFileBackstop } from './trail-file-backstop';

/** The guard's environment variable holding its home account (its region is Lambda's `AWS_REGION`). */
export const HOME_ACCOUNT_ENV = 'INVOKEGUARD_HOME_ACCOUNT';

/** The guard's environment variable holding its execution role's ARN. */
export const ROLE_ARN_ENV = 'INVOKEGUARD_ROLE_ARN';

/** The guard's environment variable that turns on its Security Hub findings (`on`). */
export const SECURITY_HUB_ENV = 'INVOKEGUARD_SECURITY_HUB';

/** Logs Insights folder of the guard's saved queries unless `queryFolder` says otherwise. */
export const DEFAULT_QUERY_FOLDER = 'invokeguard';

export interface InvokeGuardProps {
  /** Path of the policies file (invokers.json); validated with the CLI, then packaged with the guard. */
  readonly policiesFile: string;

  /**
   * The guard's code: `GuardCode.fromAsset(dir)` (a directory holding a built arm64 `bootstrap`) or
   * `GuardCode.fromCargo(manifest)` (built at synth with cargo lambda).
   */
  readonly code: GuardCode;

  /**
   * The `invokeguard` CLI that validates the policies file at synth (and, for TrailAthena, writes the saved queries).
   * @default - `invokeguard` on PATH (`InvokeguardCli.onPath()`)
   */
  readonly cli?: InvokeguardCli;

  /**
   * Name of the guard function; a policies file that guards this name is rejected. Its log group is then
   * `/aws/lambda/<functionName>`.
   * @default - a name CloudFormation generates (and a generated log group name)
   */
  readonly functionName?: string;

  /**
   * Logs Insights folder of the saved queries.
   * @default 'invokeguard'
   */
  readonly queryFolder?: string;

  /**
   * Send each violation to AWS Security Hub as a finding of this account's custom integration
   * (`INVOKEGUARD_SECURITY_HUB=on`); the role may then call `securityhub:BatchImportFindings` on that product only.
   * @default false
   */
  readonly securityHub?: boolean;

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
   * Keeps the guard's control-plane calls under Lambda's 15 requests/s per account and region. With `sweepFanOut` it
   * must exceed the sweep's `maxConcurrency`: each sweep consumer works on a pair of its own (its own quota).
   * @default 2; with `sweepFanOut`, its `maxConcurrency` + 2
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
   * Fan the sweep out over SQS: the scheduled sweep only plans, one message per (account, region) pair of the policies
   * file on a FIFO queue (a message group per pair), and the guard consumes it, one pair per invocation, with at most
   * `maxConcurrency` at once; pairs that keep failing go to a dead-letter queue with an alarm. `true` for the defaults.
   * @default false (the sweep runs in one invocation); InvokeguardHub turns it on
   */
  readonly sweepFanOut?: SweepFanOutOptions | boolean;

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
   * @default - a name CloudFormation generates
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
   * Bus the Invoke and change rules listen on. A hub guard (InvokeguardHub) passes the hub bus that the
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
  /** The sweep queue the scheduled sweep plans onto and the guard consumes; only with `sweepFanOut`. */
  public readonly sweepFanOut?: SweepFanOut;
  public readonly eventBus: events.IEventBus;
  public readonly alertsTopic: sns.ITopic;
  public readonly trail?: InvokeTrail;
  /** The mode the guard runs each guarded function in (key of `functions` to mode), file and `mode` prop combined. */
  public readonly functionModes: ReadonlyMap<string, GuardMode>;
  public readonly alarms: GuardAlarms;
  /** New trail log files to the guard, and the notification dedup table; only with the trail this construct creates. */
  public readonly trailFileBackstop?: TrailFileBackstop;
  /** The CLI the policies file was validated with; TrailAthena generates its queries with the same one. */
  public readonly cli: InvokeguardCli;
  /** Logs Insights folder of the guard's saved queries (the backstop's too). */
  public readonly queryFolder: string;
  /** The guard role's inline policy (no separate AWS::IAM::Policy): see `addToRolePolicy`. */
  private readonly rolePolicy: iam.PolicyDocument;
  private readonly maxEventAge: Duration;
  private readonly retryAttempts: number;

  constructor(scope: Construct, id: string, props: InvokeGuardProps) {
    super(scope, id);
    checkProps(props);
    const stack = Stack.of(this);
    const functionName = props.functionName;
    this.cli = props.cli ?? InvokeguardCli.onPath();
    this.queryFolder = props.queryFolder ?? DEFAULT_QUERY_FOLDER;
    this.maxEventAge = props.maxEventAge ?? Duration.hours(2);
    this.retryAttempts = props.retryAttempts ?? 8;

    const home = Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)
      ? undefined : { account: stack.account, region: stack.region };
    this.policies = loadPolicies(props.policiesFile, (file) => this.cli.validate(file, { guardFunction: functionName, home }));
    const self = functionName === undefined ? undefined : this.policies.functions.find((f) => namesGuard(stack, f.key, functionName));
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
      eventBusName: props.eventBusName,
      alertEmail: props.alertEmail,
    });
    this.eventBus = notifications.eventBus;
    this.alertsTopic = notifications.topic;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: functionName === undefined ? undefined : `/aws/lambda/${functionName}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
    });

    this.rolePolicy = this.initialRolePolicy();
    this.function = this.createFunction(props);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const guardTarget = () => this.newTarget();
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
    const fanOut = sweepFanOutOptions(props.sweepFanOut, false);
    if (fanOut) {
      this.sweepFanOut = new SweepFanOut(this, 'SweepFanOut', {
        guard: this.function,
        guardTimeout: this.function.timeout!,
        logGroup: this.logGroup,
        topic: this.alertsTopic,
        addToRolePolicy: (statement) => this.addToRolePolicy(statement),
        options: fanOut,
      });
      this.alarms.alarms.push(...this.sweepFanOut.alarms);
    }
    new GuardQueries(this, 'Queries', { logGroup: this.logGroup, folder: this.queryFolder });
    if (this.trail) {
      this.trailFileBackstop = new TrailFileBackstop(this, 'TrailFileBackstop', { bucket: this.trail.bucket, guard: this });
    }
    // createTrail: false: no backstop (and no dedup table). To add it for the existing trail, turn on EventBridge
    // notifications on its bucket and create `new TrailFileBackstop(scope, id, { bucket: s3.Bucket.fromBucketName(...),
    // guard })` beside the guard: the same rule, plus GetObject on its log files and the dedup table.

    acknowledgeGuardFindings({
      trailBucket: this.trail?.bucket,
      role: this.function.role!,
      deadLetterQueue: this.deadLetterQueue,
      guardedFunctionArns: this.roleFunctionArns,
    });
  }

  /** Adds a statement to the guard role's inline policy (the backstop's reads, a hub's AssumeRole). */
  public addToRolePolicy(statement: iam.PolicyStatement): void {
    this.rolePolicy.addStatements(statement);
  }

  /** A new target delivering to the guard like its rules do (same retries and dead-letter queue), for further rules. */
  public newTarget(): events.IRuleTarget {
    // Every rule delivers to the guard the same way: retried, then parked in the dead-letter queue.
    return new targets.LambdaFunction(this.function, {
      deadLetterQueue: this.deadLetterQueue,
      maxEventAge: this.maxEventAge,
      retryAttempts: this.retryAttempts,
    });
  }

  private initialRolePolicy(): iam.PolicyDocument {
    return new iam.PolicyDocument({
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
    });
  }

  private createFunction(props: InvokeGuardProps): lambda.Function {
    const stack = Stack.of(this);
    if (props.securityHub) {
      this.addToRolePolicy(new iam.PolicyStatement({
        sid: 'ImportSecurityHubFindings',
        actions: ['securityhub:BatchImportFindings'],
        // The custom-integration product of the guard's own account and region: findings go nowhere else.
        resources: [stack.formatArn({ service: 'securityhub', resource: 'product', resourceName: `${stack.account}/default` })],
      }));
    }
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'invokeguard: rewrites the resource policies of the guarded functions only',
      inlinePolicies: { invokeguard: this.rolePolicy },
    });

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
    if (props.securityHub) {
      env[SECURITY_HUB_ENV] = 'on';
    }
    const fn = new lambda.Function(this, 'Function', {
      functionName: props.functionName,
      description: 'invokeguard: keeps Lambda resource policies to the allowlist in invokers.json',
      // The packaged policies file is the one just validated, so the Lambda never loads an unchecked one.
      code: props.code.bind(this, this.policies.file),
      handler: 'bootstrap',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      role,
      memorySize: props.memorySize ?? 128,
      timeout: props.timeout ?? Duration.minutes(5),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? reservedByDefault(props),
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
  if (!(props.code instanceof GuardCode)) {
    errors.push('Error - code must be GuardCode.fromAsset(dir) or GuardCode.fromCargo(manifest).');
  }
  if (props.existingEventBus && props.eventBusName !== undefined) {
    errors.push('Error - Either provide existingEventBus or eventBusName, but not both.');
  }
  if (props.createTrail === false && props.trailLogExpiration !== undefined) {
    errors.push('Error - trailLogExpiration applies to the trail this construct creates; it cannot be set with createTrail: false.');
  }
  if (props.functionName !== undefined && !Token.isUnresolved(props.functionName) && !/^[A-Za-z0-9_-]{1,64}$/.test(props.functionName)) {
    errors.push(`Error - functionName "${props.functionName}" is not a Lambda function name (1 to 64 letters, digits, - and _).`);
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
  const fanOut = sweepFanOutOptions(props.sweepFanOut, false);
  if (fanOut) {
    errors.push(...sweepFanOutErrors(fanOut, props.timeout ?? Duration.minutes(5), props.reservedConcurrentExecutions));
  }
  const sweepError = props.sweepSchedule === undefined ? undefined : sweepScheduleError(props.sweepSchedule);
  if (sweepError) {
    errors.push(`Error - ${sweepError}`);
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}

/** 2 keeps the events' calls under the account's Lambda quota; sweep consumers, each on a pair of its own, come on top. */
function reservedByDefault(props: InvokeGuardProps): number {
  const fanOut = sweepFanOutOptions(props.sweepFanOut, false);
  return fanOut ? fanOutReservedConcurrency(fanOut) : 2;
}
