import { Stack, StackProps } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { InvokeguardHub, InvokeguardHubProps } from './hub';
import { InvokeGuard } from './invoke-guard';
import { TrailAthena } from './trail-athena';
import { TrailFileBackstop } from './trail-file-backstop';

export interface InvokeguardHubStackProps extends StackProps, InvokeguardHubProps {}

/** A stack holding one InvokeguardHub and nothing else: what `-c hub=true` deploys. */
export class InvokeguardHubStack extends Stack {
  public readonly hub: InvokeguardHub;
  // The hub's parts, as InvokeguardHub names them.
  public readonly guard: InvokeGuard;
  public readonly hubBus: events.EventBus;
  public readonly memberRoleName: string;
  public readonly stackSets: cloudformation.CfnStackSet[];
  public readonly memberTemplates: Record<string, unknown>[];
  public readonly memberTemplateAssets: s3assets.Asset[];
  public readonly trailFileBackstop?: TrailFileBackstop;
  public readonly athena?: TrailAthena;

  constructor(scope: Construct, id: string, props: InvokeguardHubStackProps) {
    super(scope, id, props);
    // 'Default' keeps the hub's resources at the logical ids they had when the stack held them itself.
    this.hub = new InvokeguardHub(this, 'Default', props);
    ({
      guard: this.guard, hubBus: this.hubBus, memberRoleName: this.memberRoleName, stackSets: this.stackSets,
      memberTemplates: this.memberTemplates, memberTemplateAssets: this.memberTemplateAssets,
      trailFileBackstop: this.trailFileBackstop, athena: this.athena,
    } = this.hub);
  }
}
