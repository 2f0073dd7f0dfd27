import path from 'node:path';
import { z } from 'zod';
import { type ContractIssue, formatPath, Parameters, toContractIssues, WorkflowId } from './common.js';
import { type JsonSyntaxError, jsonErrorOffset, lineColumn, scanJsonText } from './json-text.js';
import { definitionLimitIssues } from './limits.js';
import { PoolName, PoolSlots } from './operator.js';
import { Sla } from './sla.js';

/** A job with no timeout of its own gets this many seconds (24 h): a stuck script never waits forever. */
export const DEFAULT_TIMEOUT_SECONDS = 86_400;
/** Seconds without a heartbeat from the agent before the job is TimedOut (the agent beats every third of it). */
export const DEFAULT_HEARTBEAT_SECONDS = 300;
/** Jobs are not retried unless asked: ETL scripts are not always safe to re-run. */
export const DEFAULT_RETRIES = 0;
/** First retry waits this long; each further one multiplies it by the backoff rate. */
export const DEFAULT_RETRY_BACKOFF_SECONDS = 30;
export const DEFAULT_RETRY_BACKOFF_RATE = 2;
/** Upper bound of one job's timeout: a Step Functions standard execution lasts at most a year. */
export const MAX_TIMEOUT_SECONDS = 31_536_000;
export const MAX_RETRIES = 10;

const seconds = (what: string, max = MAX_TIMEOUT_SECONDS) =>
  z
    .number({ error: `${what} must be a number of seconds` })
    .int({ error: `${what} must be a whole number of seconds` })
    .positive({ error: `${what} must be at least 1` })
    .max(max, { error: `${what} must be at most ${max}` });

const retries = z
  .number({ error: 'retries must be a number' })
  .int({ error: 'retries must be a whole number' })
  .min(0, { error: 'retries must be 0 or more' })
  .max(MAX_RETRIES, { error: `retries must be at most ${MAX_RETRIES}` });

/**
 * A script name relative to the script root. It may hold sub-folders but can never leave the root:
 * the agent resolves it under its configured folder, and a path escaping it would run anything.
 */
export const ScriptPath = z
  .string({ error: 'must be a string naming a script' })
  .min(1, { error: 'must not be empty' })
  .max(1024, { error: 'must be at most 1024 characters' })
  .superRefine((p, ctx) => {
    const problem = scriptPathProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Why a script path is unacceptable, or undefined when it is fine. */
export function scriptPathProblem(p: string): string | undefined {
  if (p.includes('\0')) return 'must not contain a NUL character';
  if (p.includes('\\')) return 'must use "/" as the folder separator';
  if (path.posix.isAbsolute(p)) return `"${p}" is absolute; script paths are relative to the script root`;
  const normalized = path.posix.normalize(p);
  if (normalized === '..' || normalized.startsWith('../'))
    return `"${p}" escapes the script root; script paths must stay inside it`;
  if (normalized === '.' || p.endsWith('/')) return `"${p}" names a folder, not a script`;
  return undefined;
}

export const ScriptObject = z.strictObject(
  {
    script: ScriptPath,
    args: z
      .array(
        z.string({ error: 'args must be strings' }).refine((a) => !a.includes('\0'), {
          error: 'must not contain a NUL character (a process argument cannot hold one)',
        }),
        { error: 'must be an array of strings' },
      )
      .optional(),
    timeout_seconds: seconds('timeout_seconds').optional(),
    heartbeat_seconds: seconds('heartbeat_seconds').optional(),
    retries: retries.optional(),
    /** The resource pool this script takes a slot of while it runs (overrides its stage's). */
    pool: PoolName.optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field ${quoteKeys(iss.keys)}` : undefined) },
);

/** A stage's script: the seed's plain name, or an object with arguments and policies. */
export const ScriptRef = z.union([ScriptPath, ScriptObject], {
  error: 'must be a script name or an object { "script": "...", ... }',
});
export type ScriptRef = z.infer<typeof ScriptRef>;

const executionFlag = z
  .string({ error: 'must be "y" or "n"' })
  .refine((v) => /^[yn]$/i.test(v), {
    error: (iss) => `must be "y" or "n", got ${JSON.stringify(iss.input)}`,
  })
  .transform((v) => v.toLowerCase() as 'y' | 'n');

const executionType = z
  .string({ error: 'must be "sequential" or "parallel"' })
  .refine((v) => /^(sequential|parallel)$/i.test(v), {
    error: (iss) => `must be "sequential" or "parallel", got ${JSON.stringify(iss.input)}`,
  })
  .transform((v) => v.toLowerCase() as 'sequential' | 'parallel');

export const Stage = z
  .strictObject(
    {
      execution_flag: executionFlag,
      execution_type: executionType,
      stage_description: z.string({ error: 'must be a string' }).optional(),
      scripts: z
        .array(ScriptRef, { error: 'must be an array of scripts' })
        .min(1, { error: 'a stage needs at least one script' }),
      max_concurrency: z
        .number({ error: 'must be a number' })
        .int({ error: 'must be a whole number' })
        .positive({ error: 'must be at least 1' })
        .optional(),
      /**
       * The resource pool each of this stage's scripts takes a slot of while it runs, across every
       * workflow of the home (local) or stack (AWS); a script's own `pool` wins. None: no limit.
       */
      pool: PoolName.optional(),
    },
    {
      error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field ${quoteKeys(iss.keys)}` : undefined),
    },
  )
  .superRefine((stage, ctx) => {
    if (stage.max_concurrency !== undefined && stage.execution_type !== 'parallel') {
      ctx.addIssue({
        code: 'custom',
        path: ['max_concurrency'],
        message: 'applies to parallel stages only (a sequential stage runs one script at a time)',
      });
    }
  });
export type Stage = z.infer<typeof Stage>;

const CRON_FIELDS = 6;

/** Why an EventBridge schedule expression is malformed, or undefined when it looks right. */
export function scheduleExpressionProblem(expr: string): string | undefined {
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (cron) {
    const fields = (cron[1] ?? '').trim().split(/\s+/);
    if (fields.length !== CRON_FIELDS)
      return `cron() takes 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
    const [, , dom, , dow] = fields;
    if (dom !== '?' && dow !== '?') return 'cron(): one of day-of-month or day-of-week must be "?"';
    if (dom === '?' && dow === '?') return 'cron(): day-of-month and day-of-week cannot both be "?"';
    return undefined;
  }
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expr);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (n < 1) return 'rate(): the value must be at least 1';
    if (n === 1 && unit.endsWith('s'))
      return `rate(): use the singular unit for 1 ("rate(1 ${unit.slice(0, -1)})")`;
    if (n > 1 && !unit.endsWith('s')) return `rate(): use the plural unit for ${n} ("rate(${n} ${unit}s)")`;
    return undefined;
  }
  if (/^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$/.test(expr)) return undefined;
  return 'must be "cron(...)", "rate(...)" or "at(yyyy-mm-ddThh:mm:ss)" in EventBridge syntax';
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const Schedule = z.union(
  [
    z.string().superRefine((e, ctx) => {
      const p = scheduleExpressionProblem(e);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    }),
    z.strictObject(
      {
        expression: z.string({ error: 'must be a string' }).superRefine((e, ctx) => {
          const p = scheduleExpressionProblem(e);
          if (p) ctx.addIssue({ code: 'custom', message: p });
        }),
        timezone: z
          .string({ error: 'must be a string' })
          .refine(isTimeZone, { error: (iss) => `unknown time zone ${JSON.stringify(iss.input)}` })
          .optional(),
        enabled: z.boolean({ error: 'must be true or false' }).optional(),
        /**
         * `rsqlo serve` only: when the server was down at a firing, run once for the latest missed
         * time when it comes back (default false: a missed firing is not run late).
         */
        catchup: z.boolean({ error: 'must be true or false' }).optional(),
      },
      {
        error: (iss) =>
          iss.code === 'unrecognized_keys' ? `unknown field ${quoteKeys(iss.keys)}` : undefined,
      },
    ),
  ],
  { error: 'must be an EventBridge expression or { "expression": "...", "timezone": "..." }' },
);
export type Schedule = z.infer<typeof Schedule>;

export const Defaults = z.strictObject(
  {
    timeout_seconds: seconds('timeout_seconds').optional(),
    heartbeat_seconds: seconds('heartbeat_seconds').optional(),
    retries: retries.optional(),
    retry_backoff_seconds: seconds('retry_backoff_seconds', 86_400).optional(),
    retry_backoff_rate: z
      .number({ error: 'must be a number' })
      .min(1, { error: 'must be at least 1' })
      .max(10, { error: 'must be at most 10' })
      .optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field ${quoteKeys(iss.keys)}` : undefined) },
);
export type Defaults = z.infer<typeof Defaults>;

/** Longest `within_hours` of a trigger: a year (an arrival older than that is history). */
export const MAX_TRIGGER_WITHIN_HOURS = 8760;

/**
 * `"trigger": {"after": ["wf_a", "wf_b"], "within_hours": 24}`: start a run once each named
 * workflow has Completed since this workflow's last run started (AND; Failed runs do not count).
 * With `within_hours`, only arrivals within that many hours of the latest one count (default: no
 * bound). services/trigger/ does it; contracts/dependencies.ts refuses cycles and unknown names.
 */
export const Trigger = z
  .strictObject(
    {
      after: z
        .array(WorkflowId, { error: 'must be an array of workflow ids' })
        .min(1, { error: 'names at least one workflow' })
        .max(20, { error: 'names at most 20 workflows' }),
      within_hours: z
        .number({ error: 'must be a number of hours' })
        .positive({ error: 'must be more than 0' })
        .max(MAX_TRIGGER_WITHIN_HOURS, { error: `must be at most ${MAX_TRIGGER_WITHIN_HOURS}` })
        .optional(),
    },
    {
      error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field ${quoteKeys(iss.keys)}` : undefined),
    },
  )
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.after.forEach((id, i) => {
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['after', i], message: `names "${id}" twice` });
      seen.add(id);
    });
  });
export type Trigger = z.infer<typeof Trigger>;

/** A calendar's name: `calendars/<name>.json` beside the definitions. */
export const CalendarName = z
  .string({ error: 'must be a string naming a calendar' })
  .min(1, { error: 'must not be empty' })
  .max(64, { error: 'must be at most 64 characters' })
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'may only contain letters, digits, "_" and "-"' });

/**
 * A workflow definition: the seed's config item (which validates unchanged) plus the optional
 * extensions of ARCHITECTURE.md §2. Unknown fields are refused so that a misspelt option never silently
 * does nothing.
 */
export const WorkflowDefinition = z.strictObject(
  {
    workflow_id: WorkflowId,
    workflow_description: z.string({ error: 'must be a string' }).optional(),
    workflow_stages: z
      .array(Stage, { error: 'must be an array of stages' })
      .min(1, { error: 'a workflow needs at least one stage' }),
    schedule: Schedule.optional(),
    defaults: Defaults.optional(),
    max_active_runs: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .positive({ error: 'must be at least 1' })
      .optional(),
    parameters: Parameters.optional(),
    /** Service-level lines (contracts/sla.ts): SlaMissed when a run crosses one. */
    sla: Sla.optional(),
    trigger: Trigger.optional(),
    /** The schedule fires only on this calendar's days (contracts/calendar.ts). */
    calendar: CalendarName.optional(),
    /**
     * The size a pool is created with when a run of this workflow first needs it (`"wlm": 2`);
     * a pool named nowhere here is created with 1 slot. An existing pool keeps its size
     * (`rsqlo pool set` changes it).
     */
    pools: z
      .record(PoolName, PoolSlots, {
        error: (iss) =>
          iss.code === 'invalid_type'
            ? 'must be an object of pool name to slots'
            : iss.code === 'invalid_key'
              ? 'is not a pool name: 1 to 64 letters, digits, "_" and "-"'
              : undefined,
      })
      .optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field ${quoteKeys(iss.keys)}` : undefined) },
);
export type WorkflowDefinition = z.infer<typeof WorkflowDefinition>;
export type WorkflowDefinitionInput = z.input<typeof WorkflowDefinition>;

function quoteKeys(keys: readonly string[]): string {
  return keys.map((k) => JSON.stringify(k)).join(', ');
}

/** A definition that does not satisfy the contract; `issues` names every problem by JSON path. */
export class DefinitionError extends Error {
  override name = 'DefinitionError';
  constructor(
    readonly source: string,
    readonly issues: ContractIssue[],
  ) {
    super(
      `${source}: invalid workflow definition\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
    );
  }
}

export type DefinitionResult =
  | { ok: true; definition: WorkflowDefinition }
  | { ok: false; issues: ContractIssue[] };

/** Validates an already-parsed value (e.g. a DynamoDB config item). */
export function validateDefinition(value: unknown): DefinitionResult {
  const result = WorkflowDefinition.safeParse(value);
  if (result.success) return withinLimits(result.data);
  return { ok: false, issues: toContractIssues(result.error) };
}

/** A valid definition that must also be within the size and timing limits (contracts/limits.ts). */
function withinLimits(definition: WorkflowDefinition): DefinitionResult {
  const fallback = { timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS };
  const issues = definitionLimitIssues(definition, fallback);
  if (issues.length === 0) return { ok: true, definition };
  return { ok: false, issues: issues.map((i) => ({ path: formatPath(i.path), message: i.message })) };
}

/**
 * Parses JSON text into a definition. Text that is not JSON is reported with line and column; a key
 * written twice in one object is refused at its JSON path (JSON.parse would keep the last one
 * silently, so `"execution_flag": "n"` followed by `"y"` would run the stage).
 */
export function parseDefinitionText(text: string): DefinitionResult {
  const scan = scanJsonText(text);
  if (scan.error)
    return { ok: false, issues: [{ path: '(root)', message: syntaxMessage(text, scan.error) }] };
  if (scan.duplicates.length > 0) {
    return {
      ok: false,
      issues: scan.duplicates.map((d) => {
        const at = lineColumn(text, d.offset);
        const first = lineColumn(text, d.firstOffset);
        return {
          path: formatPath(d.path),
          message: `duplicate key ${JSON.stringify(d.key)} at line ${at.line}, column ${at.column} (first at line ${first.line}, column ${first.column}); JSON keeps only the last, so write it once`,
        };
      }),
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [{ path: '(root)', message: jsonErrorMessage(text, err) }] };
  }
  return validateDefinition(value);
}

function syntaxMessage(text: string, at: JsonSyntaxError): string {
  const { line, column } = lineColumn(text, at.offset);
  const found = at.offset < text.length ? JSON.stringify(text[at.offset]) : 'the end of the text';
  return `not valid JSON at line ${line}, column ${column}: expected ${at.expected}, found ${found}`;
}

/** Says where JSON text is broken (line, column, what was expected there). */
export function jsonErrorMessage(text: string, err: unknown): string {
  const at = jsonErrorOffset(text);
  if (at) return syntaxMessage(text, at);
  return `not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
}

/** The script name of a script reference (plain string or object form). */
export function scriptName(ref: ScriptRef): string {
  return typeof ref === 'string' ? ref : ref.script;
}

/** Every script a definition names, with the JSON path it was named at. */
export function listScripts(def: WorkflowDefinition): Array<{ script: string; path: string }> {
  const out: Array<{ script: string; path: string }> = [];
  def.workflow_stages.forEach((stage, si) => {
    stage.scripts.forEach((ref, ji) => {
      const p =
        typeof ref === 'string'
          ? ['workflow_stages', si, 'scripts', ji]
          : ['workflow_stages', si, 'scripts', ji, 'script'];
      out.push({ script: scriptName(ref), path: formatPath(p) });
    });
  });
  return out;
}
