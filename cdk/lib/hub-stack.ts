import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, DefaultStackSynthesizer, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { InvokeGuard, InvokeGuardProps } from './invoke-guard';
import {
  DEFAULT_MEMBER_ROLE_NAME, functionsByAccount, InvokeguardMemberStack, MEMBER_PARAMETERS,
} from './member-stack';
import { nagResourceId } from './nag-acknowledgements';
import { TrailFileBackstop } from './trail-file-backstop';

/** The hub guard's environment variable naming the role it assumes in member accounts. */
export const MEMBER_ROLE_ENV = 'INVOKEGUARD_MEMBER_ROLE';

/** CloudFormation's limit on an inline TemplateBody (a StackSet's too). */
export const TEMPLATE_BODY_LIMIT = 51_200;

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

export interface InvokeguardHubStackProps extends StackProps {
  /**
   * The guard, as in the single-account stack. Every function of the policies file must be keyed by its unqualified ARN,
   * whose account is the member account guarding it. `createTrail` must be unset or false: a hub relies on an
   * organization trail (see the README, "Guarding an AWS Organization").
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
   * reads (the trail-file backstop, with its dedup table). The bucket must send notifications to EventBridge and allow
   * the guard's role `s3:GetObject` on `AWSLogs/<org id>/*` in its bucket policy.
   * @default - no trail-file backstop
   */
  readonly organizationTrail?: OrganizationTrailBucket;
}

/**
 * One hub guard, in a security account, for the Lambda functions of many member accounts: the guard (Lambda, DLQ,
 * alarms, notifications, saved queries) with rules on a hub bus that only principals of the organization may put
 * events on, the right to assume the member role in member accounts of the organization only, and a
 * service-managed StackSet deploying InvokeguardMemberStack to the member OUs.
 */
export class InvokeguardHubStack extends Stack {
  public readonly guard: InvokeGuard;
  public readonly hubBus: events.EventBus;
  public readonly memberRoleName: string;
  public readonly stackSet: cloudformation.CfnStackSet;
  /** The member template, as the StackSet deploys it. */
  public readonly memberTemplate: Record<string, unknown>;
  /** The trail-file rule (on the hub bus) and dedup table; only with `organizationTrail`. */
  public readonly trailFileBackstop?: TrailFileBackstop;

  constructor(scope: Construct, id: string, props: InvokeguardHubStackProps) {
    super(scope, id, props);
    checkHubProps(props);
    this.memberRoleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;
    const orgId = props.organizationId;
    const regions = props.memberRegions?.length ? [...props.memberRegions] : [this.region];

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
    });
    const byAccount = functionsByAccount(this.guard.policies.functions.map((f) => f.key));
    this.guard.function.addEnvironment(MEMBER_ROLE_ENV, this.memberRoleName);

    const memberRoles = this.formatArn({ service: 'iam', region: '', account: '*', resource: 'role', resourceName: this.memberRoleName });
    this.guard.rolePolicy.addStatements(new iam.PolicyStatement({
      sid: 'AssumeMemberRoles',
      actions: ['sts:AssumeRole'],
      resources: [memberRoles],
      // Only roles of accounts in the organization; each member role trusts only this guard's role in turn.
      conditions: { StringEquals: { 'aws:ResourceOrgID': orgId } },
    }));
    Validations.of(this.guard.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceId(this, memberRoles)}]`,
      reason: 'The member role of whichever account a guarded function is in: one role name, in accounts of the organization '
        + 'only (aws:ResourceOrgID), and each member role trusts only this guard\'s role. New member accounts get theirs '
        + 'from the StackSet, so the accounts cannot be listed ahead.',
    });

    if (props.organizationTrail) {
      this.trailFileBackstop = this.orgTrailBackstop(props.organizationTrail, orgId, regions, props.guard.functionName ?? 'invokeguard');
    }

    const memberStack = synthMemberTemplate({
      guardedFunctions: byAccount,
      memberRoleName: this.memberRoleName,
      trailBucket: props.organizationTrail && {
        bucketName: props.organizationTrail.bucketName,
        account: props.organizationTrail.account,
        logFilePrefix: `AWSLogs/${orgId}/`,
      },
    });
    this.memberTemplate = memberStack.template;
    const templateBody = JSON.stringify(this.memberTemplate);
    if (Buffer.byteLength(templateBody) > TEMPLATE_BODY_LIMIT) {
      throw new Error(`invokeguard: the member template is ${Buffer.byteLength(templateBody)} bytes, over CloudFormation's `
        + `${TEMPLATE_BODY_LIMIT}-byte TemplateBody limit (too many member accounts in the policies file). Upload it to S3 and `
        + 'give the StackSet a templateUrl instead (see the README, "Guarding an AWS Organization").');
    }

    this.stackSet = new cloudformation.CfnStackSet(this, 'MemberStackSet', {
      stackSetName: props.stackSetName ?? `${this.stackName}-members`,
      description: 'invokeguard member: forwards guarded functions\' events to the hub bus; the role the hub guard assumes',
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
      templateBody,
    });
  }

  /** The trail-file backstop over the organization trail, listening on the hub bus for the member regions' log files. */
  private orgTrailBackstop(
    trail: OrganizationTrailBucket, orgId: string, regions: readonly string[], queryFolder: string,
  ): TrailFileBackstop {
    const bucket = s3.Bucket.fromBucketAttributes(this, 'OrganizationTrailBucket', { bucketName: trail.bucketName, account: trail.account });
    const logFilePrefix = `AWSLogs/${orgId}/`;
    const backstop = new TrailFileBackstop(this, 'TrailFileBackstop', {
      bucket,
      logFilePrefix,
      encryptionKey: trail.encryptionKeyArn ? kms.Key.fromKeyArn(this, 'OrganizationTrailKey', trail.encryptionKeyArn) : undefined,
      guard: this.guard.function,
      guardPolicy: this.guard.rolePolicy,
      target: this.guard.newTarget(),
      logGroup: this.guard.logGroup,
      queryFolder,
    });
    const cfnRule = backstop.rule.node.defaultChild as events.CfnRule;
    // The bucket's account forwards its S3 events to the hub bus (member template); log files of every member account
    // in the member regions, digest files (CloudTrail-Digest/) left out.
    cfnRule.eventBusName = this.hubBus.eventBusName;
    cfnRule.description = 'New organization trail log files of the member regions: the hub guard reads the records EventBridge may not have delivered';
    cfnRule.addPropertyOverride('EventPattern.detail.object.key',
      regions.map((region) => ({ wildcard: `${logFilePrefix}*/CloudTrail/${region}/*` })));
    return backstop;
  }
}

/** The member template: InvokeguardMemberStack synthesized in an app of its own (no bootstrap, metadata or assets). */
export function synthMemberTemplate(props: ConstructorParameters<typeof InvokeguardMemberStack>[2]): {
  stack: InvokeguardMemberStack; template: Record<string, unknown>;
} {
  const app = new App({
    // Never CDK_OUTDIR: under the CLI that is the hub app's own cdk.out, whose manifest this would overwrite.
    outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'invokeguard-member-')),
    analyticsReporting: false,
    context: { 'aws:cdk:enable-path-metadata': false },
  });
  const stack = new InvokeguardMemberStack(app, 'InvokeguardMember', {
    ...props,
    description: 'invokeguard member: forwards the guarded functions\' events to the hub bus; the role the hub guard assumes',
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
  });
  const template = app.synth().getStackArtifact(stack.artifactId).template as Record<string, unknown>;
  return { stack, template };
}

function checkHubProps(props: InvokeguardHubStackProps): void {
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
  if (props.organizationTrail && !/^\d{12}$/.test(props.organizationTrail.account)) {
    errors.push(`Error - organizationTrail.account "${props.organizationTrail.account}" is not a 12-digit account id.`);
  }
  if (errors.length > 0) {
    throw new Error(errors.join('\n'));
  }
}
