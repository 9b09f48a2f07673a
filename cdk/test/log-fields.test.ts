import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { guardTemplate } from './helpers';

/**
 * The saved Logs Insights queries and the metric filters read the guard's log lines: every field they name
 * (and every value they compare it with) must be in the log-line JSON Schema the Rust types generate
 * (`schemas/log-line.schema.json`, `invokeguard schema --log-line`), on the kind of line (`message`) they
 * filter on.
 */
const SCHEMA_FILE = path.join(__dirname, '..', '..', 'schemas', 'log-line.schema.json');

type Json = any;

/** The log-line schema, read the way the queries need it: which fields a kind of line has, and their values. */
class LogLineSchema {
  constructor(private readonly root: Json) {}

  static load(file = SCHEMA_FILE): LogLineSchema {
    return new LogLineSchema(JSON.parse(fs.readFileSync(file, 'utf8')));
  }

  /** The kinds of line: the `message` constant of each alternative. */
  kinds(): string[] {
    return (this.root.oneOf ?? []).map((k: Json) => k?.properties?.message?.const).filter((k: unknown) => typeof k === 'string');
  }

  /**
   * The schemas of `field` (a dotted path such as `caller.kind`) on lines of `kind`, or on any line when `kind`
   * is undefined; empty when no such line has it.
   */
  field(kind: string | undefined, field: string): Json[] {
    let scope: Json[];
    if (kind === undefined) {
      scope = [this.root];
    } else {
      // Several kinds may share a message (a record's `decision` and a policy change's): a field of any counts.
      const branches = (this.root.oneOf ?? []).filter((k: Json) => k?.properties?.message?.const === kind);
      if (branches.length === 0) return [];
      scope = [{ properties: this.root.properties }, ...branches];
    }
    for (const segment of field.split('.')) {
      scope = scope.flatMap((s) => this.properties(s).get(segment) ?? []);
    }
    return scope;
  }

  /** Every value a string field can take, or undefined when it is any string (or not a string). */
  values(schemas: Json[]): Set<unknown> | undefined {
    const out = new Set<unknown>();
    for (const s of schemas.flatMap((x) => this.alternatives(x))) {
      if (s.const !== undefined) out.add(s.const);
      else if (Array.isArray(s.enum)) s.enum.forEach((v: unknown) => out.add(v));
      else if ([s.type].flat().includes('string')) return undefined;
    }
    return out.size > 0 ? out : undefined;
  }

  /** The JSON types the schemas allow. */
  types(schemas: Json[]): Set<string> {
    const out = new Set<string>();
    for (const s of schemas.flatMap((x) => this.alternatives(x))) {
      const t = s.type;
      (Array.isArray(t) ? t : t === undefined ? [] : [t]).forEach((x: string) => out.add(x));
      if (s.const !== undefined) out.add(typeof s.const);
    }
    return out;
  }

  private resolve(s: Json): Json {
    const ref = s?.$ref;
    if (typeof ref !== 'string') return s;
    const name = ref.replace(/^#\/\$defs\//, '');
    const target = this.root.$defs?.[name];
    assert.ok(target, `the schema has no $defs/${name}`);
    return target;
  }

  /** The schema, what it refers to and each of its alternatives, flattened. */
  private alternatives(s: Json): Json[] {
    if (typeof s !== 'object' || s === null) return [];
    const out: Json[] = [s];
    if (s.$ref) out.push(...this.alternatives(this.resolve(s)));
    for (const key of ['oneOf', 'anyOf', 'allOf']) {
      for (const sub of s[key] ?? []) out.push(...this.alternatives(sub));
    }
    return out;
  }

  /** Every property any alternative of `s` declares, with each schema it is given. */
  private properties(s: Json): Map<string, Json[]> {
    const out = new Map<string, Json[]>();
    for (const alt of this.alternatives(s)) {
      for (const [name, sub] of Object.entries(alt.properties ?? {})) {
        out.set(name, [...(out.get(name) ?? []), sub]);
      }
    }
    return out;
  }
}

/** A field a query or filter pattern reads, and what it compares it with. */
interface FieldUse {
  readonly field: string;
  readonly op?: string;
  readonly value?: string | number | boolean;
}

interface Reader {
  readonly name: string;
  /** Logs Insights (which reads a JSON boolean as 1 or 0) rather than a metric filter pattern (which says IS TRUE). */
  readonly insights?: boolean;
  /** The `message` kinds it filters on; empty when it reads every line. */
  readonly kinds: string[];
  readonly uses: FieldUse[];
}

const INSIGHTS_KEYWORDS = new Set([
  'and', 'or', 'not', 'as', 'by', 'in', 'like', 'asc', 'desc', 'is', 'null', 'true', 'false',
  'fields', 'filter', 'stats', 'sort', 'limit', 'display', 'dedup', 'parse', 'unmask', 'pattern', 'diff',
]);
const LITERAL = String.raw`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?\b|true\b|false\b`;

function literal(text: string): string | number | boolean {
  if (/^["']/.test(text)) return JSON.parse(`"${text.slice(1, -1).replace(/"/g, '\\"')}"`);
  if (text === 'true' || text === 'false') return text === 'true';
  return Number(text);
}

/**
 * The fields a Logs Insights query string reads: identifiers in `fields`, `filter`, `stats … by`, `sort` and
 * the like, without functions, keywords, `@`-built-ins and the names `as` gives to computed values.
 */
function insightsReader(name: string, query: string): Reader {
  const aliases = new Set([...query.matchAll(/\bas\s+([A-Za-z_]\w*)/g)].map((m) => m[1]));
  const uses: FieldUse[] = [];
  const compare = new RegExp(String.raw`([A-Za-z_][\w.]*)\s*(!=|>=|<=|=|>|<|\blike\b)\s*(${LITERAL})`, 'g');
  for (const m of query.matchAll(compare)) {
    // A filter after stats compares a computed value (`filter firstInput = "trail-file"`), not a field.
    if (aliases.has(m[1])) continue;
    uses.push({ field: m[1], op: m[2], value: literal(m[3]) });
  }
  const bare = query.replace(new RegExp(`"(?:[^"\\\\]|\\\\.)*"|'(?:[^'\\\\]|\\\\.)*'|/(?:[^/\\\\]|\\\\.)*/`, 'g'), ' ');
  for (const command of bare.split('|')) {
    const tokens = [...command.matchAll(/[@A-Za-z_][\w.@]*(\s*\()?/g)];
    tokens.forEach((m, i) => {
      const token = m[0];
      const isCommand = i === 0;
      const isFunction = m[1] !== undefined;
      if (isCommand || isFunction || token.startsWith('@') || INSIGHTS_KEYWORDS.has(token.toLowerCase()) || aliases.has(token)) return;
      uses.push({ field: token });
    });
  }
  const kinds = uses.filter((u) => u.field === 'message' && u.op === '=').map((u) => String(u.value));
  return { name, kinds, uses, insights: true };
}

/** The fields a metric filter pattern (and its metric value and dimensions) reads: each `$.name`. */
function metricFilterReader(name: string, pattern: string, selectors: string[] = []): Reader {
  const uses: FieldUse[] = [];
  const compare = new RegExp(String.raw`\$\.([\w.]+)\s*(!=|>=|<=|=|>|<)\s*(${LITERAL})`, 'g');
  for (const m of pattern.matchAll(compare)) uses.push({ field: m[1], op: m[2], value: literal(m[3]) });
  for (const m of pattern.matchAll(/\$\.([\w.]+)\s+IS\s+(TRUE|FALSE)\b/gi)) {
    uses.push({ field: m[1], op: 'IS', value: m[2].toUpperCase() === 'TRUE' });
  }
  for (const text of [pattern, ...selectors]) {
    for (const m of text.matchAll(/\$\.([\w.]+)/g)) uses.push({ field: m[1] });
  }
  const kinds = uses.filter((u) => u.field === 'message' && u.op === '=').map((u) => String(u.value));
  return { name, kinds, uses };
}

/** What in `reader` the schema does not have: one sentence each. */
function problems(schema: LogLineSchema, reader: Reader): string[] {
  const out: string[] = [];
  const known = schema.kinds();
  for (const kind of reader.kinds) {
    if (!known.includes(kind)) out.push(`${reader.name}: no log line has message "${kind}" (the schema has ${known.join(', ')})`);
  }
  const kinds = reader.kinds.filter((k) => known.includes(k));
  for (const use of reader.uses) {
    for (const kind of kinds.length > 0 ? kinds : [undefined]) {
      const where = kind === undefined ? 'any log line' : `"${kind}" lines`;
      const schemas = schema.field(kind, use.field);
      if (schemas.length === 0) {
        out.push(`${reader.name}: \`${use.field}\` is not a field of ${where}`);
        continue;
      }
      if (use.value === undefined || use.field === 'message') continue;
      const types = schema.types(schemas);
      // Logs Insights reads a JSON boolean as 1 or 0, so `incomplete = 0` is how a query compares one.
      if (reader.insights && types.has('boolean') && ['=', '!='].includes(use.op ?? '') && (use.value === 0 || use.value === 1)) continue;
      const numeric = ['>', '<', '>=', '<='].includes(use.op ?? '') || typeof use.value === 'number';
      if (numeric && !types.has('integer') && !types.has('number')) {
        out.push(`${reader.name}: \`${use.field}\` on ${where} is not a number (${[...types].join('|')})`);
      } else if (typeof use.value === 'boolean' && !types.has('boolean')) {
        out.push(`${reader.name}: \`${use.field}\` on ${where} is not a boolean (${[...types].join('|')})`);
      } else if (typeof use.value === 'string' && use.op !== 'like') {
        const values = schema.values(schemas);
        if (values && !values.has(use.value)) {
          out.push(`${reader.name}: \`${use.field}\` on ${where} is never "${use.value}" (it is ${[...values].join(', ')})`);
        }
      }
    }
  }
  return [...new Set(out)];
}

function readersOfTheStack(): Reader[] {
  // With the sweep fanning out (a hub's default) too: the planner's metric filter exists only then.
  return [...new Map([guardTemplate(), guardTemplate({ sweepFanOut: true })].flatMap(readersOf).map((r) => [r.name, r])).values()];
}

function readersOf(template: ReturnType<typeof guardTemplate>): Reader[] {
  const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition'))
    .map((r) => insightsReader(String(r.Properties.Name), String(r.Properties.QueryString)));
  const filters = Object.entries(template.findResources('AWS::Logs::MetricFilter')).map(([id, r]) => {
    const transforms: Json[] = r.Properties.MetricTransformations ?? [];
    const selectors = transforms.flatMap((t) => [t.MetricValue, ...(t.Dimensions ?? []).map((d: Json) => d.Value)])
      .filter((s): s is string => typeof s === 'string');
    return metricFilterReader(`metric filter ${id}`, String(r.Properties.FilterPattern), selectors);
  });
  return [...queries, ...filters];
}

test('every field the saved queries and metric filters read is in the log-line schema', () => {
  const schema = LogLineSchema.load();
  const readers = readersOfTheStack();
  assert.ok(readers.filter((r) => !r.name.startsWith('metric filter')).length >= 4, 'the stack saves the queries');
  assert.ok(readers.filter((r) => r.name.startsWith('metric filter')).length >= 2, 'the stack has the metric filters');
  assert.ok(readers.some((r) => r.kinds.includes('sweep-plan')), 'the sweep planner\'s metric filter is read');
  assert.ok(readers.some((r) => r.uses.some((u) => u.field === 'pair')), 'the per-pair sweep lines are read');
  for (const r of readers) assert.ok(r.uses.length > 0, `${r.name}: read no field at all`);
  assert.deepEqual(readers.flatMap((r) => problems(schema, r)), []);
});

test('the query reader finds fields, comparisons and kinds, and skips functions, aliases and built-ins', () => {
  const q = insightsReader('q', 'fields @timestamp, sid\n| filter message = "summary" and unfixed > 0\n'
    + '| stats sum(unfixed) as n, latest(mode) as lastMode by caller.kind, function\n| sort n desc');
  assert.deepEqual(q.kinds, ['summary']);
  assert.deepEqual([...new Set(q.uses.map((u) => u.field))].sort(),
    ['caller.kind', 'function', 'message', 'mode', 'sid', 'unfixed']);
  assert.deepEqual(q.uses.find((u) => u.field === 'unfixed' && u.op), { field: 'unfixed', op: '>', value: 0 });
  const m = metricFilterReader('m', '{ $.message = "sweep" && $.incomplete IS TRUE }', ['$.mode']);
  assert.deepEqual(m.kinds, ['sweep']);
  assert.deepEqual(m.uses.find((u) => u.op === 'IS'), { field: 'incomplete', op: 'IS', value: true });
  assert.ok(m.uses.some((u) => u.field === 'mode'));
  // A comparison with a stats alias after stats reads no field.
  const after = insightsReader('after', 'filter message = "decision" | stats earliest(input) as firstInput by eventId\n'
    + '| filter firstInput = "trail-file"');
  assert.deepEqual([...new Set(after.uses.map((u) => u.field))].sort(), ['eventId', 'input', 'message']);
});

test('the check reports unknown kinds, fields and values', () => {
  const schema = LogLineSchema.load();
  // Two kinds of `decision` line (a record's verdict, a policy change's) share the message.
  assert.deepEqual([...new Set(schema.kinds())].sort(),
    ['coalesced', 'decision', 'error', 'remediation', 'summary', 'sweep', 'sweep-plan', 'unmanaged']);
  // Fields a line of every kind has, and fields of one kind only.
  assert.equal(schema.field('error', 'requestId').length > 0, true);
  assert.equal(schema.field('decision', 'caller.sourceArn').length > 0, true);
  // A policy change's `decision` line has fields of its own.
  assert.equal(schema.field('decision', 'actor').length > 0, true);
  assert.equal(schema.field('summary', 'caller').length, 0);
  assert.deepEqual(problems(schema, insightsReader('ok',
    'filter message = "remediation" | filter outcome = "failed" and action = "remove" | fields sid, statementIndex, mode')), []);
  assert.deepEqual(problems(schema, insightsReader('bad',
    'filter message = "remediation" | filter outcome = "fail" | fields caller.kind, sid, nope | sort revisionId')), [
    'bad: `outcome` on "remediation" lines is never "fail" (it is applied, failed, skipped-report-mode, conflict-retried)',
    'bad: `caller.kind` is not a field of "remediation" lines',
    'bad: `nope` is not a field of "remediation" lines',
  ]);
  assert.deepEqual(problems(schema, metricFilterReader('pattern', '{ $.message = "summary" && $.verdict > 0 && $.unfixd > 0 }')), [
    'pattern: `verdict` on "summary" lines is not a number (string|null)',
    'pattern: `unfixd` is not a field of "summary" lines',
  ]);
  // A JSON boolean is 1 or 0 to Logs Insights, but not to a metric filter, and no other number is a boolean.
  assert.deepEqual(problems(schema, insightsReader('bool', 'filter message = "sweep" and incomplete = 0')), []);
  assert.deepEqual(problems(schema, insightsReader('bool2', 'filter message = "sweep" and incomplete = 2')), [
    'bool2: `incomplete` on "sweep" lines is not a number (boolean)',
  ]);
  assert.deepEqual(problems(schema, metricFilterReader('bool3', '{ $.message = "sweep" && $.incomplete = 0 }')), [
    'bool3: `incomplete` on "sweep" lines is not a number (boolean)',
  ]);
  assert.deepEqual(problems(schema, metricFilterReader('kind', '{ $.message = "nothing" && $.error = "x" }')), [
    'kind: no log line has message "nothing" (the schema has decision, decision, sweep, sweep-plan, remediation, summary, unmanaged, coalesced, error)',
  ]);
});
