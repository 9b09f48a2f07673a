import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The saved query strings, written with the log-line field names of the guard's contract. */
export const QUERIES: Record<string, logs.QueryStringProps> = {
  // `input`: what the record came from (`invoke`, `change`, `sweep`, later `trail-file`); `apply`: how the
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
  // How each input (`invoke`, `change`, `sweep`) is judged, per function: e.g. violations a sweep found
  // that no Invoke or change event showed.
  'decisions-by-input': {
    filterStatements: ['message = "decision"'],
    statsStatements: [
      'count(*) as decisions, earliest(@timestamp) as firstSeen, latest(@timestamp) as lastSeen by input, verdict, function',
    ],
    sort: 'decisions desc',
  },
  // One line per sweep: how much it read, what drifted, what it fixed or left, and whether it finished. With the sweep
  // fanning out over SQS, one line per account/region pair (`pair`, "ACCOUNT/REGION"); null for a sweep in one invocation.
  sweeps: {
    fields: [
      '@timestamp', 'pair', 'functions', 'policiesRead', 'drift', 'fixed', 'unfixed', 'failed', 'apiCalls', 'elapsedMs', 'incomplete',
      'requestId',
    ],
    filterStatements: ['message = "sweep"'],
    sort: '@timestamp desc',
  },
  // When each account/region pair was last swept to the end, stalest first: a pair that keeps failing stands out here
  // before its messages reach the dead-letter queue. To the end means every policy read and none failed: a pair whose
  // member role refused AssumeRole writes a line with `incomplete: false` and `failed` = its functions, and is not
  // complete. Logs Insights reads a JSON boolean as 1 or 0. An in-process sweep (no fan-out) has no pair: its lines
  // make one row with an empty pair.
  'last-complete-sweep-per-pair': {
    filterStatements: ['message = "sweep"', 'incomplete = 0', 'failed = 0'],
    statsStatements: [
      'latest(@timestamp) as lastComplete, latest(functions) as lastFunctions, latest(drift) as lastDrift, '
        + 'latest(fixed) as lastFixed, latest(unfixed) as lastUnfixed, count(*) as completeSweeps by pair',
    ],
    sort: 'lastComplete asc',
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
