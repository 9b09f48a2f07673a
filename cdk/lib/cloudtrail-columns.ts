import * as glue from 'aws-cdk-lib/aws-glue';

/**
 * The columns of AWS's documented Athena table for CloudTrail logs (the Athena User Guide, "Creating the table for
 * CloudTrail logs in Athena using partition projection"), names lower-cased as the Glue catalog stores them, types as
 * written there. `requestparameters`, `responseelements` and `additionaleventdata` are JSON text: read them with
 * `json_extract_scalar`. cdk/test/athena.test.ts checks this list against a copy of that DDL
 * (tests/fixtures/athena_cloudtrail_partition_projection_ddl_awsdocs_2023.sql).
 */
export const CLOUDTRAIL_COLUMNS: readonly glue.CfnTable.ColumnProperty[] = [
  { name: 'eventversion', type: 'string' },
  {
    name: 'useridentity',
    type: 'struct<type:string,principalId:string,arn:string,accountId:string,invokedBy:string,accessKeyId:string,'
      + 'userName:string,sessionContext:struct<attributes:struct<mfaAuthenticated:string,creationDate:string>,'
      + 'sessionIssuer:struct<type:string,principalId:string,arn:string,accountId:string,userName:string>,'
      + 'ec2RoleDelivery:string,webIdFederationData:map<string,string>>>',
  },
  { name: 'eventtime', type: 'string' },
  { name: 'eventsource', type: 'string' },
  { name: 'eventname', type: 'string' },
  { name: 'awsregion', type: 'string' },
  { name: 'sourceipaddress', type: 'string' },
  { name: 'useragent', type: 'string' },
  { name: 'errorcode', type: 'string' },
  { name: 'errormessage', type: 'string' },
  { name: 'requestparameters', type: 'string' },
  { name: 'responseelements', type: 'string' },
  { name: 'additionaleventdata', type: 'string' },
  { name: 'requestid', type: 'string' },
  { name: 'eventid', type: 'string' },
  { name: 'readonly', type: 'string' },
  { name: 'resources', type: 'array<struct<arn:string,accountId:string,type:string>>' },
  { name: 'eventtype', type: 'string' },
  { name: 'apiversion', type: 'string' },
  { name: 'recipientaccountid', type: 'string' },
  { name: 'serviceeventdetails', type: 'string' },
  { name: 'sharedeventid', type: 'string' },
  { name: 'vpcendpointid', type: 'string' },
  { name: 'tlsdetails', type: 'struct<tlsVersion:string,cipherSuite:string,clientProvidedHostHeader:string>' },
];

/** The partition column partition projection fills from the log files' `yyyy/MM/dd` prefix. */
export const PARTITION_COLUMN: glue.CfnTable.ColumnProperty = { name: 'timestamp', type: 'string' };
