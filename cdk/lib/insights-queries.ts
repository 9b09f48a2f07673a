import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The saved query strings, written with the log-line field names of the guard's contract. */
export const QUERIES: Record<string, logs.QueryStringProps> = {
  // `input`: what the record came from (`invoke`, later `change`, `sweep`, `trail-file`); `apply`: how the
  // policy was written (`permissions` or `document`); `statementIndex` names a removed statement whose `sid` is null.
  'remediations-in-time-order': {
    fields: [
      '@timestamp', 'input', 'function', 'qualifier', 'mode', 'action', 'apply', 'sid', 'statementIndex', 'principal',
      'outcome', 'revisionId', 'error', 'eventId', 'requestId',
    ],
    filterStatements: ['message = "remediation"'],
    sort: '@timestamp asc',
  },
  'violations-by-caller': {
    filterStatements: ['message = "decision"', 'verdict = "violation"'],
    statsStatements: [
      'count(*) as violations, earliest(@timestamp) as firstSeen, latest(@timestamp) as lastSeen by caller.kind, caller.principal, caller.account, caller.arn, caller.sourceArn, caller.sourceAccount, function',
    ],
    sort: 'violations desc',
  },
  'actions-per-function': {
    filterStatements: ['message = "remediation"'],
    statsStatements: ['count(*) as actions by function, qualifier, action, outcome'],
    sort: 'function asc',
  },
  // What the UnfixedGrants metric counts: grants outside the allowlist left in place (report mode, failures,
  // or 1 for a same-account IAM caller no policy change stops), per function and qualifier.
  'unfixed-grants': {
    filterStatements: ['message = "summary"', 'unfixed > 0'],
    statsStatements: [
      'sum(unfixed) as unfixedGrants, count(*) as records, latest(mode) as lastMode, '
        + 'earliest(@timestamp) as firstSeen, latest(@timestamp) as lastSeen by function, qualifier',
    ],
    sort: 'unfixedGrants desc',
  },
};

export interface GuardQueriesProps {
  readonly logGroup: logs.ILogGroup;
  /** Folder the queries are saved under in the Logs Insights console. */
  readonly folder: string;
}

/** CloudWatch Logs Insights query definitions over the guard's log group. */
export class GuardQueries extends Construct {
  constructor(scope: Construct, id: string, props: GuardQueriesProps) {
    super(scope, id);
    for (const [name, query] of Object.entries(QUERIES)) {
      new logs.QueryDefinition(this, name, {
        queryDefinitionName: `${props.folder}/${name}`,
        queryString: new logs.QueryString(query),
        logGroups: [props.logGroup],
      });
    }
  }
}
