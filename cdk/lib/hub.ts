import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnCondition, CfnOutput, CfnResource, DefaultStackSynthesizer, Names, Stack, Stage, Token, Validations } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as organizations from 'aws-cdk-lib/aws-organizations';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { InvokeGuard, InvokeGuardProps } from './invoke-guard';
import {
  DEFAULT_MEMBER_ROLE_NAME, functionsByAccount, InvokeguardMemberStack, MEMBER_PARAMETERS,
} from './member-stack';
import { partId } from './guarded-functions';
import { nagResourceId } from './nag-acknowledgements';
import { TrailAthena, TrailAthenaProps } from './trail-athena';
import { TrailFileBackstop } from './trail-file-backstop';

/** The hub guard's environment variable naming the role it assumes in member accounts. */
export const MEMBER_ROLE_ENV = 'INVOKEGUARD_MEMBER_ROLE';

/** CloudFormation's limits on a template read from S3 (a StackSet's TemplateURL): its size, resources and conditions. */
export const TEMPLATE_URL_LIMIT = 1_000_000;
export const TEMPLATE_RESOURCE_LIMIT = 500;
export const TEMPLATE_CONDITION_LIMIT = 200;

export const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;
export const ORGANIZATIONAL_UNIT_ID = /^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export type StackSetCallAs = 'SELF' | 'DELEGATED_ADMIN';

/** The organization trail's bucket, for the trail-file backstop across the organization. */
export interface OrganizationTrailBucket {
  /** Name of the bucket the organization trail writes to (`AWSLogs/<org id>/<account>/CloudTrail/<region>/`). */
  readonly bucketName: string;
  /**
   * Account owning the bucket (e.g. the log archive account). Its stack instance of the member template forwards the
   * bucket's S3 `Object Created` events to the hub bus, so it must be in one of the member OUs.
   */
  readonly account: string;
  /**
   * ARN of the KMS key the trail's log files are encrypted with, if any; the guard may decrypt with it (through S3).
   * @default - SSE-S3, no key
   */
  readonly encryptionKeyArn?: string;
}

export interface InvokeguardHubProps {
  /**
   * The guard, as in the single-account stack. A function of a member account is keyed by its unqualified ARN, whose
   * account is the member account guarding it; a name key means a function of the hub's own account and region. The
   * hub's own functions (name keys and ARN keys of its account) get rules on its default bus, not the member template.
   * `createTrail` must be unset or false: a hub relies on an organization trail (see the README, "Guarding an AWS
   * Organization"). `sweepFanOut` defaults to on here: the sweep plans one message per account and region on a queue.
   */
  readonly guard: InvokeGuardProps;

  /** The organization's id (`o-` and 10 to 32 lower-case letters or digits); only its principals may put events on the hub bus. */
  readonly organizationId: string;

  /** The organizational units (`ou-...`) whose accounts get the member template (and new accounts, automatically). */
  readonly memberOrganizationalUnits: readonly string[];

  /**
   * Name of the role the guard assumes in each member account (`INVOKEGUARD_MEMBER_ROLE`).
   * @default 'invokeguard-member'
   */
  readonly memberRoleName?: string;

  /**
   * Name of the hub bus the member accounts forward their events to.
   * @default - a name CloudFormation generates
   */
  readonly hubEventBusName?: string;

  /**
   * Regions the member template is deployed to (where the guarded functions are); the first also creates the member role.
   * @default - the hub's region
   */
  readonly memberRegions?: readonly string[];

  /**
   * `SELF` when the hub account is the organization's management account, `DELEGATED_ADMIN` when it is a delegated
   * administrator for CloudFormation StackSets.
   * @default 'SELF'
   */
  readonly callAs?: StackSetCallAs;

  /**
   * Name of the StackSet.
   * @default - `<stack name>-members`
   */
  readonly stackSetName?: string;

  /**
   * The organization trail's bucket: new log files of the member regions become S3 `Object Created` events the guard
   * reads (the trail-file backstop, with its dedup table), and Athena reads the guarded accounts' log files. The bucket
   * must send notifications to EventBridge and allow the guard's role `s3:GetObject` on `AWSLogs/<org id>/*` in its
   * bucket policy (the `OrgTrailBucketPolicyStatement` output).
   * @default - no trail-file backstop and no Athena
   */
  readonly organizationTrail?: OrganizationTrailBucket;

  /**
   * Athena over the organization trail's bucket (Glue table, workgroup, saved queries), as in the single-account stack;
   * `false` for none. Nothing is created without `organizationTrail`.
   * @default {}
   */
  readonly athena?: Omit<TrailAthenaProps, 'trailBucket' | 'policiesFile' | 'organization' | 'cli'> | false;

  /**
   * The hub guard sends each violation to Security Hub (see `InvokeGuardProps.securityHub`); the same as
   * `guard.securityHub`, which must then be unset or equal.
   * @default false
   */
  readonly securityHub?: boolean;

  /**
   * Opt-in: service control policies, written from the policies file by `invokeguard guardrails`, that deny creating
   * grants outside the allowlist on the guarded functions (AddPermission for a principal the allowlist does not name or
   * for `*`, public function URLs where none is allowed, PutResourcePolicy) to everyone but the member role (the hub
   * guard's hands in member accounts) and `exemptRoleArns`. Only the management account or a delegated administrator
   * for Organizations policies can deploy them, the SCP policy type must be enabled, and SCPs never restrict the
   * management account: the guard stays the backstop (see docs/guardrails.md).
   * @default - none
   */
  readonly serviceControlPolicy?: HubServiceControlPolicy;
}

/** Where the hub attaches the grants policy, and who may still make any grant. */
export interface HubServiceControlPolicy {
  /** Deployer roles (or users) that may still make any grant, as ARNs; `*` and `?` allowed. */
  readonly exemptRoleArns?: readonly string[];
  /**
   * Roots, OUs or accounts to attach the policies to.
   * @default - the member OUs
   */
  readonly targetIds?: readonly string[];
  /**
   * How many SCPs the functions may be spread over (1 to 5; AWS attaches at most 5 to a target, one usually
   * FullAWSAccess). A function that fits in none stops synth, naming it.
   * @default 1
   */
  readonly maxPolicies?: number;
}

/**
 * One hub guard, in a security account (in any stack of that account; InvokeguardHubStack holds only this), for the
 * Lambda functions of many member accounts: the guard (Lambda, DLQ, alarms, notifications, saved queries) with rules
 * on a hub bus that only principals of the organization may put events on, the right to assume the member role in member accounts of the organization only, and a
 * service-managed StackSet deploying InvokeguardMemberStack to the member OUs. The member templates are stacks of a
 * Stage of their own beside the hub's stack (never deployed by `cdk deploy --all`): the hub synthesizes that Stage into
 * the app's cloud assembly to check CloudFormation's limits and upload each template as the StackSet's TemplateURL.
 */
export class InvokeguardHub extends Construct {
  public readonly guard: InvokeGuard;
  public readonly hubBus: events.EventBus;
  public readonly memberRoleName: string;
  /** The StackSets of the member template: one, or more when the accounts' functions exceed one template's limits. */
  public readonly stackSets: cloudformation.CfnStackSet[];
  /** The member templates, as the StackSets deploy them (the same order); each account's functions are in one. */
  public readonly memberTemplates: Record<string, unknown>[];
  /** The member templates as file assets: the StackSets' TemplateURLs. */
  public readonly memberTemplateAssets: s3assets.Asset[];
  /** The trail-file rule (on the hub bus) and dedup table; only with `organizationTrail`. */
  public readonly trailFileBackstop?: TrailFileBackstop;
  /** Athena over the guarded accounts' log files in the organization trail's bucket; only with `organizationTrail`. */
  public readonly athena?: TrailAthena;
  /** The grants policies (SERVICE_CONTROL_POLICY); only with `serviceControlPolicy`. */
  public readonly serviceControlPolicies: organizations.CfnPolicy[] = [];

  constructor(scope: Construct, id: string, props: InvokeguardHubProps) {
    super(scope, id);
    checkHubProps(props);
    const stack = Stack.of(this);
    this.memberRoleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;
    const orgId = props.organizationId;
    const regions = props.memberRegions?.length ? [...props.memberRegions] : [stack.region];

    this.hubBus = new events.EventBus(this, 'HubBus', {
      eventBusName: props.hubEventBusName,
      description: 'invokeguard hub: Lambda events forwarded by the member accounts of the organization',
    });
    this.hubBus.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'OrganizationPutEvents',
      principals: [new iam.StarPrincipal()],
      actions: ['events:PutEvents'],
      resources: [this.hubBus.eventBusArn],
      conditions: { StringEquals: { 'aws:PrincipalOrgID': orgId } },
    }));

    this.guard = new InvokeGuard(this, 'InvokeGuard', {
      ...props.guard,
      createTrail: false,
      sourceEventBus: this.hubBus,
      // The functions of other accounts are reached through their member role; grants on them here would do nothing.
      ownAccountGrantsOnly: true,
      // No member stack forwards the hub account's own events, so its functions get rules on its default bus.
      ownAccountOnDefaultBus: true,
      securityHub: props.securityHub ?? props.guard.securityHub,
      // One invocation sweeps about 140 accounts of 100 functions within 15 minutes; a queue of pairs sweeps thousands.
      sweepFanOut: props.guard.sweepFanOut ?? true,
    });
    const keys = this.guard.policies.functions.map((f) => f.key);
    const own = hubOwnFunctions(stack, this.guard.policies.file, keys);
    // The hub's own functions stay out of the member template: a hub account in a member OU would forward them twice.
    const memberKeys = keys.filter((key) => !own.keys.includes(key));
    if (memberKeys.length === 0) {
      throw new Error(`invokeguard: every function of ${this.guard.policies.file} is in the hub's own account; a hub guards `
        + 'functions of member accounts (keyed by ARN). For one account, deploy the single-account stack (without -c hub=true).');
    }
    const byAccount = functionsByAccount(memberKeys);
    // Log files the backstop and Athena read: the member regions', and those of the hub's own functions.
    const ownRegions = own.regions.filter((region) => !regions.includes(region));
    this.guard.function.addEnvironment(MEMBER_ROLE_ENV, this.memberRoleName);

    if (props.serviceControlPolicy) {
      this.serviceControlPolicies = this.grantsPolicies(props.serviceControlPolicy, props.memberOrganizationalUnits);
    }

    const memberRoles = stack.formatArn({ service: 'iam', region: '', account: '*', resource: 'role', resourceName: this.memberRoleName });
    this.guard.addToRolePolicy(new iam.PolicyStatement({
      sid: 'AssumeMemberRoles',
      actions: ['sts:AssumeRole'],
      resources: [memberRoles],
      // Only roles of accounts in the organization; each member role trusts only this guard's role in turn.
      conditions: { StringEquals: { 'aws:ResourceOrgID': orgId } },
    }));
    Validations.of(this.guard.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceId(stack, memberRoles)}]`,
      reason: 'The member role of whichever account a guarded function is in: one role name, in accounts of the organization '
        + 'only (aws:ResourceOrgID), and each member role trusts only this guard\'s role. New member accounts get theirs '
        + 'from the StackSet, so the accounts cannot be listed ahead.',
    });

    if (props.organizationTrail) {
      const trail = props.organizationTrail;
      const bucket = s3.Bucket.fromBucketAttributes(this, 'OrganizationTrailBucket', { bucketName: trail.bucketName, account: trail.account });
      this.trailFileBackstop = this.orgTrailBackstop(bucket, trail, orgId, regions, ownRegions);
      this.bucketPolicyOutput(bucket, orgId);
      if (props.athena !== false) {
        this.athena = new TrailAthena(this, 'TrailAthena', {
          ...props.athena,
          cli: this.guard.cli,
          trailBucket: bucket,
          policiesFile: this.guard.policies.file,
          // The accounts with guarded functions are the only ones whose records the saved queries are about (they
          // match functions by ARN); every other account would only add partitions to list and files to scan.
          organization: {
            organizationId: orgId,
            accounts: [...Object.keys(byAccount), ...(own.keys.length > 0 ? [stack.account] : [])],
            regions: [...regions, ...ownRegions],
          },
        });
      }
    }

    // Accounts are spread over as many StackSets as CloudFormation's template limits need; every StackSet deploys to
    // the same OUs, and an account whose functions another StackSet carries gets only its placeholder from this one.
    const shards = memberShards(byAccount);
    const trailBucket = props.organizationTrail && {
      bucketName: props.organizationTrail.bucketName,
      account: props.organizationTrail.account,
      logFilePrefix: `AWSLogs/${orgId}/`,
    };
    const baseName = props.stackSetName ?? `${stack.stackName}-members`;
    this.memberTemplates = [];
    this.memberTemplateAssets = [];
    this.stackSets = shards.map((guardedFunctions, i) => {
      const member = synthMemberTemplate(this, partId('Members', i), {
        guardedFunctions,
        memberRoleName: this.memberRoleName,
        // The trail bucket's forwarding rule once, in the first StackSet.
        trailBucket: i === 0 ? trailBucket : undefined,
      });
      this.memberTemplates.push(member.template);
      // Through S3 (the bootstrap bucket, like the guard's code), not inline: an inline TemplateBody stops at 51,200
      // bytes, about 18 member accounts; a TemplateURL takes 1 MB.
      const asset = new s3assets.Asset(this, partId('MemberTemplate', i), { path: member.templateFile });
      this.memberTemplateAssets.push(asset);
      return new cloudformation.CfnStackSet(this, partId('MemberStackSet', i), {
        stackSetName: i === 0 ? baseName : `${baseName}-${i + 1}`,
        description: 'invokeguard member: forwards guarded functions\' events to the hub bus; the role the hub guard assumes'
          + (shards.length > 1 ? ` (accounts ${Object.keys(guardedFunctions)[0]} to ${Object.keys(guardedFunctions).slice(-1)[0]})` : ''),
        permissionModel: 'SERVICE_MANAGED',
        autoDeployment: { enabled: true, retainStacksOnAccountRemoval: false },
        callAs: props.callAs ?? 'SELF',
        capabilities: ['CAPABILITY_NAMED_IAM'],
        managedExecution: { Active: true },
        operationPreferences: { regionConcurrencyType: 'PARALLEL', maxConcurrentPercentage: 25, failureTolerancePercentage: 10 },
        parameters: [
          { parameterKey: MEMBER_PARAMETERS.hubEventBusArn, parameterValue: this.hubBus.eventBusArn },
          { parameterKey: MEMBER_PARAMETERS.hubGuardRoleArn, parameterValue: this.guard.function.role!.roleArn },
          { parameterKey: MEMBER_PARAMETERS.memberRoleRegion, parameterValue: regions[0] },
        ],
        stackInstancesGroup: [{
          deploymentTargets: { organizationalUnitIds: [...props.memberOrganizationalUnits] },
          regions,
        }],
        templateUrl: asset.httpUrl,
      });
    });
  }

  /**
   * One AWS::Organizations::Policy per document `invokeguard guardrails` writes, attached to the targets. The member role
   * is exempt in every partition and account (the hub guard acts through it); a function left out stops synth.
   */
  private grantsPolicies(scp: HubServiceControlPolicy, memberOus: readonly string[]): organizations.CfnPolicy[] {
    const stack = Stack.of(this);
    const home = Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region) ? undefined : { account: stack.account, region: stack.region };
    const report = this.guard.cli.guardrails(this.guard.policies.file, {
      exemptRoles: [`arn:*:iam::*:role/${this.memberRoleName}`, ...(scp.exemptRoleArns ?? [])],
      maxPolicies: scp.maxPolicies,
      home,
    });
    if (report.leftOut.length > 0) {
      throw new Error(`invokeguard: the service control policy cannot hold ${report.leftOut.map((l) => `${l.function} (${l.reason})`).join(', ')}; `
        + 'raise serviceControlPolicy.maxPolicies (up to 5) or split the policies file across hubs.');
    }
    const name = Names.uniqueResourceName(this, { maxLength: 100 });
    return report.policies.map((policy, i) => new organizations.CfnPolicy(this, partId('GrantsPolicy', i), {
      name: `${name}-grants-${i + 1}`,
      type: 'SERVICE_CONTROL_POLICY',
      description: `invokeguard: denies grants outside the allowlist on ${policy.functions.length} guarded function(s) (${policy.size} of ${report.limit} characters)`,
      // An object, not a string: CloudFormation's drift detection compares it as a document.
      content: policy.content,
      targetIds: [...(scp.targetIds ?? memberOus)],
    }));
  }

  /**
   * The trail-file backstop over the organization trail, listening on the hub bus for the member regions' log files and,
   * in `ownRegions` (regions of the hub's own functions without member stacks), the hub account's.
   */
  private orgTrailBackstop(
    bucket: s3.IBucket, trail: OrganizationTrailBucket, orgId: string, regions: readonly string[], ownRegions: readonly string[],
  ): TrailFileBackstop {
    const logFilePrefix = `AWSLogs/${orgId}/`;
    return new TrailFileBackstop(this, 'TrailFileBackstop', {
      bucket,
      logFilePrefix,
      encryptionKey: trail.encryptionKeyArn ? kms.Key.fromKeyArn(this, 'OrganizationTrailKey', trail.encryptionKeyArn) : undefined,
      guard: this.guard,
      // The bucket's account forwards its S3 events to the hub bus (member template).
      eventBus: this.hubBus,
      description: 'New organization trail log files of the member regions (and the hub\'s own): the hub guard reads the records EventBridge may not have delivered',
      // Log files of every member account in the member regions, digest files (CloudTrail-Digest/) left out.
      logFileKeyPatterns: [
        ...regions.map((region) => `${logFilePrefix}*/CloudTrail/${region}/*`),
        // Only the hub account has guarded functions there: other accounts' files would cost an invocation each for nothing.
        ...ownRegions.map((region) => `${logFilePrefix}${Stack.of(this).account}/CloudTrail/${region}/*`),
      ],
    });
  }

  /**
   * The statement the log archive account adds to the trail bucket's policy so the guard can read the log files. The
   * hub cannot set it: a bucket has one policy, and replacing the organization trail's would stop CloudTrail's writes.
   */
  private bucketPolicyOutput(bucket: s3.IBucket, orgId: string): CfnOutput {
    return new CfnOutput(this, 'OrgTrailBucketPolicyStatement', {
      description: 'Add this statement to the organization trail bucket\'s policy (in the log archive account): the hub guard reads its log files',
      value: Stack.of(this).toJsonString({
        Sid: 'InvokeguardHubReadsTrailLogFiles',
        Effect: 'Allow',
        Principal: { AWS: this.guard.function.role!.roleArn },
        Action: 's3:GetObject',
        Resource: bucket.arnForObjects(`AWSLogs/${orgId}/*`),
      }),
    });
  }
}

/**
 * A member template: InvokeguardMemberStack in a Stage of its own beside `hub`'s stack (no bootstrap rule, metadata or
 * assets), synthesized into the app's cloud assembly (its `assembly-*` folder). The Stage is not deployed by
 * `cdk deploy --all`; only the StackSet deploys the template.
 */
export function synthMemberTemplate(hub: Construct, id: string, props: ConstructorParameters<typeof InvokeguardMemberStack>[2]): {
  stack: InvokeguardMemberStack; template: Record<string, unknown>; templateFile: string;
} {
  const parent = Stage.of(hub);
  if (!parent) {
    throw new Error('invokeguard: a hub must be inside an App or a Stage (its member templates become a Stage beside its stack).');
  }
  const stage = new Stage(parent, `${Names.uniqueId(hub)}${id}`);
  stage.node.setContext('aws:cdk:enable-path-metadata', false);
  const stack = new InvokeguardMemberStack(stage, 'InvokeguardMember', {
    ...props,
    description: 'invokeguard member: forwards the guarded functions\' events to the hub bus; the role the hub guard assumes',
    analyticsReporting: false,
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
  });
  // Counted before synth, which would stop at the same limit with a message that does not say what to do.
  const resources = stack.node.findAll().filter((c) => c instanceof CfnResource).length;
  if (resources > TEMPLATE_RESOURCE_LIMIT) {
    throw refuseOverLimit(`${resources} resources (CloudFormation takes ${TEMPLATE_RESOURCE_LIMIT})`);
  }
  const conditions = stack.node.findAll().filter((c) => c instanceof CfnCondition).length;
  if (conditions > TEMPLATE_CONDITION_LIMIT) {
    throw refuseOverLimit(`${conditions} conditions (CloudFormation takes ${TEMPLATE_CONDITION_LIMIT})`);
  }
  const template = stage.synth().getStackArtifact(stack.artifactId).template as Record<string, unknown>;
  // Written without the synthesizer's indentation, which would double the bytes CloudFormation counts.
  const body = JSON.stringify(template);
  if (Buffer.byteLength(body) > TEMPLATE_URL_LIMIT) {
    throw refuseOverLimit(`${Buffer.byteLength(body)} bytes (CloudFormation takes ${TEMPLATE_URL_LIMIT} from S3)`);
  }
  const templateFile = path.join(stage.outdir, 'member.compact.template.json');
  fs.writeFileSync(templateFile, body);
  return { stack, template, templateFile };
}

/**
 * The member accounts spread over templates, in the policies file's order of accounts, each group within CloudFormation's
 * limits by a generous estimate of what its accounts add to a template (synth then checks the real template): about
 * 4 ARNs' length and an event-pattern share per function, a role and conditions per account, 2 conditions an account.
 */
export function memberShards(byAccount: Readonly<Record<string, readonly string[]>>): Record<string, string[]>[] {
  const BYTES = TEMPLATE_URL_LIMIT * 0.85;
  const RESOURCES = TEMPLATE_RESOURCE_LIMIT - 20;
  const ACCOUNTS = 80; // 2 conditions each, with the Fn::Or nesting and the fixed ones, stays under 200
  const shards: Record<string, string[]>[] = [];
  let current: Record<string, string[]> = {};
  let bytes = 0;
  let resources = 0;
  for (const [account, arns] of Object.entries(byAccount)) {
    const addsBytes = 3000 + arns.reduce((sum, arn) => sum + 4 * arn.length + 120, 0);
    const addsResources = 1 + Math.ceil(arns.length / 8);
    const full = bytes + addsBytes > BYTES || resources + addsResources > RESOURCES || Object.keys(current).length >= ACCOUNTS;
    if (Object.keys(current).length > 0 && full) {
      shards.push(current);
      current = {};
      bytes = 0;
      resources = 0;
    }
    current[account] = [...arns];
    bytes += addsBytes;
    resources += addsResources;
  }
  shards.push(current);
  return shards;
}

/** Refuses a member template CloudFormation would refuse at deploy time, saying which limit and by how much. */
function refuseOverLimit(what: string): Error {
  return new Error(`invokeguard: the member template has ${what}: the policies file guards too many member accounts or `
    + 'functions for one hub. Split it across hubs, each with its own policies file, memberRoleName and stackSetName (see '
    + 'the README, "Guarding an AWS Organization").');
}
/**
 * The policies keys of the hub's own account (name keys, and ARN keys of its account) and their regions. A name key means
 * the hub's account and region, so a file with one needs both known at synth; with the account unknown, no ARN key can
 * be told to be the hub's, so all of them go to the member template (and the guard warns, invokeguard:accountUnknown).
 */
function hubOwnFunctions(stack: Stack, file: string, keys: readonly string[]): { keys: string[]; regions: string[] } {
  const isArn = (key: string) => key.startsWith('arn:');
  const own = Token.isUnresolved(stack.account)
    ? keys.filter((key) => !isArn(key))
    : keys.filter((key) => !isArn(key) || key.split(':')[4] === stack.account);
  const unknown = [stack.account, stack.region].filter((v) => Token.isUnresolved(v)).length > 0;
  if (own.length > 0 && unknown) {
    throw new Error(`invokeguard: ${file} guards functions of the hub's own account (${own.join(', ')}; a name key means `
      + 'the hub\'s account and region), but the hub stack\'s account or region is not known at synth. Give the stack an '
      + 'env with account and region (bin/app.ts takes CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION), or key each function '
      + 'by the ARN of its member account.');
  }
  const regions = own.map((key) => (isArn(key) ? key.split(':')[3] : stack.region));
  return { keys: own, regions: [...new Set(regions)] };
}

function checkHubProps(props: InvokeguardHubProps): void {
  const errors: string[] = [];
  if (!ORGANIZATION_ID.test(props.organizationId)) {
    errors.push(`Error - organizationId "${props.organizationId}" is not an organization id (o- and 10 to 32 lower-case letters or digits).`);
  }
  if (props.memberOrganizationalUnits.length === 0) {
    errors.push('Error - memberOrganizationalUnits lists no organizational unit.');
  }
  for (const ou of props.memberOrganizationalUnits) {
    if (!ORGANIZATIONAL_UNIT_ID.test(ou)) {
      errors.push(`Error - memberOrganizationalUnits: "${ou}" is not an organizational unit id (ou-xxxx-xxxxxxxx).`);
    }
  }
  for (const region of props.memberRegions ?? []) {
    if (!Token.isUnresolved(region) && !REGION.test(region)) {
      errors.push(`Error - memberRegions: "${region}" is not a region.`);
    }
  }
  if (props.callAs !== undefined && props.callAs !== 'SELF' && props.callAs !== 'DELEGATED_ADMIN') {
    errors.push(`Error - callAs must be SELF or DELEGATED_ADMIN, got "${props.callAs}".`);
  }
  if (props.guard.createTrail === true) {
    errors.push('Error - a hub guard creates no trail (createTrail); log the member accounts with an organization trail.');
  }
  if (props.securityHub !== undefined && props.guard.securityHub !== undefined && props.securityHub !== props.guard.securityHub) {
    errors.push('Error - Either provide securityHub or guard.securityHub, but not both with different values.');
  }
  const max = props.serviceControlPolicy?.maxPolicies;
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 5)) {
    errors.push(`Error - serviceControlPolicy.maxPolicies must be 1 to 5, got ${max}.`);
  }
  for (const id of props.serviceControlPolicy?.targetIds ?? []) {
    if (!/^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|\d{12})$/.test(id)) {
      errors.push(`Error - serviceControlPolicy.targetIds: "${id}" is not a root, OU or account id.`);
    }
  }
  if (props.organizationTrail && !/^\d{12}$/.test(props.organizationTrail.account)) {
    errors.push(`Error - organizationTrail.account "${props.organizationTrail.account}" is not a 12-digit account id.`);
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}
