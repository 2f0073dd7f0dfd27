import { mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ENV_NAME_PATTERN, Parameters as ParametersSchema, RESERVED_ENV_NAMES } from './common.js';
import { DETAIL_TYPES, type DetailType, EVENT_SCHEMAS, EVENT_SOURCE } from './events.js';
import { BLOG_WORKFLOW, EVENT_EXAMPLES } from './examples.js';
import { Schedule, ScriptPath, Stage, WorkflowDefinition } from './workflow.js';

/** Where the generated files live (committed; the EventBridge schema registry and downstream teams read them). */
export const SCHEMAS_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));

/**
 * Prefix of every `$id`. A URN, not a URL: the files are not served anywhere, and an `https:` id
 * would promise a location that does not exist.
 */
export const SCHEMA_ID_PREFIX = 'urn:rsqlo:schema:';

/** What each detail-type means (ARCHITECTURE.md §1), as the `description` downstream teams read first. */
const EVENT_DESCRIPTIONS: Record<DetailType, string> = {
  WorkflowRequested:
    'Please start a workflow. Sent by schedules, the CLI and users\u2019 own rules; without workflow_execution_id the starter derives one from the request.',
  WorkflowCancelRequested:
    'Please stop a run: pending jobs never start, running ones are killed, the run ends Cancelled.',
  WorkflowRejected: 'A WorkflowRequested that did not start a run, and why.',
  WorkflowStarted: 'The starter wrote the run record and planned its stages and jobs.',
  StageReady: 'Stage N may have runnable jobs; the planner re-evaluates it (level-triggered).',
  JobStarted: 'The agent started the script process of one job attempt.',
  JobFinished:
    'One job attempt ended (Completed, Failed, TimedOut or Cancelled), reported by the agent, the wrapper or the engine.',
  StageCompleted: 'Stage N is done (Completed, Failed or Cancelled), with its job counts.',
  WorkflowFinished:
    'A run ended (Completed, Failed or Cancelled), with its job counts, duration and failed jobs.',
  SlaMissed:
    'A run crossed a service-level line of its definition (finish_by, start_by or max_duration) while active; once per run and kind.',
  RunLongerThanUsual:
    'A run is still active past 1.5 x the 90th percentile of its workflow\u2019s last 20 Completed runs\u2019 durations; once per run.',
  JobSetOkRequested:
    'Please mark a Failed or TimedOut job attempt Completed ("set OK", with a reason); a run Failed because of it goes on from there under the same execution id.',
  JobRerunRequested:
    'Please run one finished job of a finished run again, as a new attempt in the same run; attempt names the attempt to rerun, so a duplicate never reruns twice.',
  JobBypassRequested:
    'Please skip a job that has not started (skip_reason "bypassed: <reason>"); the run continues as if it had completed.',
  HoldRequested:
    'Please hold a run (no new job starts; running ones finish) or, without workflow_execution_id, every new run of a workflow; ordered by (occurred_at, event_id).',
  FreeRequested: 'Please end a hold (of a run, or of a workflow); ordered by (occurred_at, event_id).',
  PoolResizeRequested:
    'Please give a resource pool this many slots (created if absent; 0 drains: running jobs finish, nothing new starts).',
  JobSetOk: 'A Failed or TimedOut job was set OK (Completed) by a person, with who, when and why.',
  JobRerunStarted: 'One job of a finished run runs again as a new attempt; the run reopened (generation).',
  JobBypassed: 'A job that had not started was bypassed (Skipped) by a person, with who, when and why.',
  RunHeld:
    'A run, or a workflow\u2019s new runs (workflow_execution_id null), is held: no new job starts until freed.',
  RunFreed: 'A hold ended: the run\u2019s next jobs may start.',
  PoolResized: 'A resource pool\u2019s number of slots changed.',
  PoolCreated:
    'A resource pool was created: from a definition\u2019s pools, with the default of 1 slot, or by an operator.',
  PoolSlotFreed: 'A job attempt gave its pool slot back (once per attempt); one waiting job may start.',
  OperatorActionRejected: 'An operator request was refused, and why.',
};

const EVOLUTION_NOTE =
  'Evolves additively (new optional fields only); consumers must ignore fields they do not know. A breaking change is a new detail-type.';

/** Env names a parameter may have: env-safe, not RSQLO_*, not one the engine sets (same rule as the zod schema). */
const PARAMETER_NAME_SCHEMA = {
  type: 'string',
  pattern: `^(?!RSQLO_)${ENV_NAME_PATTERN.source.replace(/^\^/, '')}`,
  not: { enum: [...RESERVED_ENV_NAMES] },
};

/**
 * zod refinements have no JSON Schema form. Where a rule is a plain pattern we add it, so editors
 * and registries catch the common mistakes too; the zod schemas stay the authority (the JSON
 * Schemas may accept a few things zod refuses, never the other way round).
 */
const overrideRefinements: NonNullable<Parameters<typeof z.toJSONSchema>[1]>['override'] = (ctx) => {
  const s = ctx.zodSchema;
  const js = ctx.jsonSchema as Record<string, unknown>;
  if (s === Stage.shape.execution_flag) js.pattern = '^[YyNn]$';
  else if (s === Stage.shape.execution_type)
    js.pattern = '^([Ss][Ee][Qq][Uu][Ee][Nn][Tt][Ii][Aa][Ll]|[Pp][Aa][Rr][Aa][Ll][Ll][Ee][Ll])$';
  else if (s === Schedule.options[0] || s === Schedule.options[1].shape.expression)
    js.pattern = '^(cron|rate|at)\\(.*\\)$';
  // Not absolute, no backslash; ".." escapes are checked by zod only.
  else if (s === ScriptPath) js.pattern = '^[^/\\\\][^\\\\]*$';
  else if (s === ParametersSchema) js.propertyNames = PARAMETER_NAME_SCHEMA;
};

/** JSON Schema keywords in reading order; anything else follows alphabetically. */
const KEYWORD_ORDER = [
  '$schema',
  '$id',
  '$ref',
  'title',
  'description',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  'type',
  'const',
  'enum',
  'default',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'prefixItems',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'properties',
  'patternProperties',
  'propertyNames',
  'additionalProperties',
  'required',
  'minProperties',
  'maxProperties',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'examples',
  '$defs',
];
const RANK = new Map(KEYWORD_ORDER.map((k, i) => [k, i]));

/** Keywords whose value is a map from names to schemas: the names keep their declaration order. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'dependentSchemas']);
/** Keywords whose value is data, not a schema: left exactly as it is. */
const DATA = new Set(['const', 'enum', 'default', 'examples']);

/**
 * Puts a schema's keywords in one fixed order, so the files do not depend on the order zod emits
 * them in and regeneration is byte-identical. Property names keep their declaration order.
 */
export function canonicalSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(canonicalSchema);
  if (node === null || typeof node !== 'object') return node;
  const entries = Object.entries(node as Record<string, unknown>);
  entries.sort(([a], [b]) => {
    const ra = RANK.get(a) ?? KEYWORD_ORDER.length;
    const rb = RANK.get(b) ?? KEYWORD_ORDER.length;
    return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
  });
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (DATA.has(key)) out[key] = value;
    else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, canonicalSchema(sub)]));
    } else out[key] = canonicalSchema(value);
  }
  return out;
}

function render(
  schema: z.ZodType,
  head: { id: string; title: string; description: string },
  examples?: unknown[],
) {
  // The input side: what a producer may write (defaults are optional and shown as `default`, and a
  // plain z.object stays open to unknown fields instead of getting additionalProperties: false).
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    override: overrideRefinements,
  });
  const doc = {
    ...json,
    $id: `${SCHEMA_ID_PREFIX}${head.id}`,
    title: head.title,
    description: head.description,
  };
  if (examples) Object.assign(doc, { examples });
  return `${JSON.stringify(canonicalSchema(doc), null, 2)}\n`;
}

/**
 * Every generated JSON Schema, as path relative to `contracts/schemas/` → file text: one per event
 * detail-type (`events/<DetailType>.json`) and one for workflow definitions
 * (`workflow-definition.json`). Pure: the writer and the staleness test both use it.
 */
export function renderSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  files.set(
    'workflow-definition.json',
    render(
      WorkflowDefinition,
      {
        id: 'workflow-definition',
        title: 'rsqlo workflow definition',
        description:
          'A workflow: ordered stages, each running its RSQL scripts sequentially or in parallel. The AWS blog\u2019s config item validates unchanged; schedule, max_concurrency, script objects, defaults, max_active_runs and parameters are optional extensions. Unknown fields are refused. Generated from contracts/workflow.ts, which also checks what JSON Schema cannot (script paths escaping the root, cron fields, time zones).',
      },
      [BLOG_WORKFLOW],
    ),
  );
  for (const dt of DETAIL_TYPES) {
    files.set(
      `events/${dt}.json`,
      render(
        EVENT_SCHEMAS[dt],
        {
          id: `events:${dt}`,
          title: dt,
          description: `The detail of an EventBridge event with source "${EVENT_SOURCE}" and detail-type "${dt}". ${EVENT_DESCRIPTIONS[dt]} ${EVOLUTION_NOTE}`,
        },
        [EVENT_EXAMPLES[dt]],
      ),
    );
  }
  return files;
}

/** Every `.json` file under a folder, as paths relative to it (`/`-separated). */
export function listJsonFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .map((p) => p.split(path.sep).join('/'))
    .filter((p) => p.endsWith('.json'))
    .sort();
}

/**
 * What differs between a folder and `renderSchemas()`: `missing <file>`, `extra <file>` or
 * `stale <file>`, sorted. Empty when the committed files are up to date.
 */
export function schemaDrift(dir: string = SCHEMAS_DIR): string[] {
  const files = renderSchemas();
  const present = new Set(listJsonFiles(dir));
  const problems: string[] = [];
  for (const [p, text] of files) {
    if (!present.has(p)) problems.push(`missing ${p}`);
    else if (readFileSync(path.join(dir, p), 'utf8') !== text) problems.push(`stale ${p}`);
  }
  for (const p of present) if (!files.has(p)) problems.push(`extra ${p}`);
  return problems.sort();
}

/** Writes every schema and removes generated files whose detail-type no longer exists. */
export function writeSchemas(dir: string = SCHEMAS_DIR): { written: string[]; removed: string[] } {
  const files = renderSchemas();
  const removed = listJsonFiles(dir).filter((p) => !files.has(p));
  for (const p of removed) rmSync(path.join(dir, p));
  for (const [p, text] of files) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), text);
  }
  return { written: [...files.keys()], removed };
}

function isMain(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const rel = path.relative(process.cwd(), SCHEMAS_DIR) || '.';
  if (process.argv.includes('--check')) {
    // For CI: fail instead of writing.
    const drift = schemaDrift();
    if (drift.length) {
      console.error(`${rel} is stale: run npm run schemas\n  ${drift.join('\n  ')}`);
      process.exitCode = 1;
    } else console.log(`${rel} is up to date`);
  } else {
    const { written, removed } = writeSchemas();
    console.log(
      `wrote ${written.length} schemas to ${rel}${removed.length ? `, removed ${removed.join(', ')}` : ''}`,
    );
  }
}
