import { Stack, Token } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import { PARTITION_COLUMN } from './cloudtrail-columns';

/** An organization trail's log files, `AWSLogs/<org id>/<account>/CloudTrail/<region>/yyyy/MM/dd/`. */
export interface OrganizationTrailLogs {
  /** The organization's id, the first folder under `AWSLogs/`. */
  readonly organizationId: string;
  /**
   * The accounts partition projection enumerates (partition `account`). Only the records of these accounts are read;
   * an account left out is invisible to every query.
   */
  readonly accounts: readonly string[];
  /** The regions partition projection enumerates (partition `region`). */
  readonly regions: readonly string[];
}

/** Where the table's log files are and how partition projection enumerates them. */
export interface TrailPartitions {
  /** The table's location: the folder above the projected partitions. */
  readonly location: string;
  readonly partitionKeys: glue.CfnTable.ColumnProperty[];
  /** The `projection.*` table parameters and `storage.location.template`. */
  readonly projection: Record<string, string>;
  readonly description: string;
}

/** The partition column of an organization trail's account folder. */
export const ACCOUNT_PARTITION_COLUMN: glue.CfnTable.ColumnProperty = { name: 'account', type: 'string' };
/** The partition column of an organization trail's region folder. */
export const REGION_PARTITION_COLUMN: glue.CfnTable.ColumnProperty = { name: 'region', type: 'string' };

const ACCOUNT_ID = /^\d{12}$/;

/**
 * The stack's own account and region, one partition per day; or, for an organization trail, one per account, region and
 * day. Accounts and regions are enums, not `injected`: a query must name every injected partition's value, and the
 * saved queries name none.
 */
export function trailPartitions(
  stack: Stack, bucketName: string, startDate: string, organization?: OrganizationTrailLogs,
): TrailPartitions {
  const days = {
    'projection.timestamp.type': 'date',
    'projection.timestamp.format': 'yyyy/MM/dd',
    'projection.timestamp.range': `${startDate},NOW`,
    'projection.timestamp.interval': '1',
    'projection.timestamp.interval.unit': 'DAYS',
  };
  if (!organization) {
    const location = `s3://${bucketName}/AWSLogs/${stack.account}/CloudTrail/${stack.region}`;
    return {
      location,
      partitionKeys: [PARTITION_COLUMN],
      projection: { 'projection.enabled': 'true', ...days, 'storage.location.template': `${location}/\${timestamp}` },
      description: `CloudTrail log files of the invokeguard trail in ${stack.region}; partitions projected by day`,
    };
  }
  const location = `s3://${bucketName}/AWSLogs/${organization.organizationId}`;
  const regions = organization.regions.join(',');
  return {
    location,
    partitionKeys: [ACCOUNT_PARTITION_COLUMN, REGION_PARTITION_COLUMN, PARTITION_COLUMN],
    projection: {
      'projection.enabled': 'true',
      'projection.account.type': 'enum',
      'projection.account.values': organization.accounts.join(','),
      'projection.region.type': 'enum',
      'projection.region.values': regions,
      ...days,
      'storage.location.template': `${location}/\${account}/CloudTrail/\${region}/\${timestamp}`,
    },
    // The accounts are not listed: there may be more than a description holds (2,048 characters).
    description: `CloudTrail log files of the organization trail of ${organization.organizationId}, the accounts of `
      + `projection.account.values in ${organization.regions.join(', ')}; partitions projected by account, region and day`,
  };
}

/** What is wrong with `organization`, as error lines (none when it is absent). */
export function organizationTrailErrors(organization?: OrganizationTrailLogs): string[] {
  if (!organization) {
    return [];
  }
  const errors: string[] = [];
  if (organization.accounts.length === 0) {
    errors.push('Error - organization.accounts lists no account (partition projection needs at least one).');
  }
  for (const account of organization.accounts) {
    if (!Token.isUnresolved(account) && !ACCOUNT_ID.test(account)) {
      errors.push(`Error - organization.accounts: "${account}" is not a 12-digit account id.`);
    }
  }
  if (new Set(organization.accounts).size !== organization.accounts.length) {
    errors.push('Error - organization.accounts lists an account twice.');
  }
  if (organization.regions.length === 0) {
    errors.push('Error - organization.regions lists no region (partition projection needs at least one).');
  }
  return errors;
}
