/**
 * How audit records are stored as DynamoDB items, and what that costs in bytes. Records keep their
 * contract attribute names (what the seed's tables held and what people query); the few attributes
 * that exist only for storage are named here, and stripped when an item is read back.
 */
import type { JobAuditRecord, WorkflowAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import { RecordTooLargeError } from '../../services/errors.js';
import { jobSequence } from './tables.js';

/** DynamoDB's hard limit on one item (400 KB, attribute names included). */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * Largest workflow audit item accepted at creation. The item grows afterwards by at most the
 * failure summaries (10 × job name, 2,000-character error message and log location) and a few
 * counters and timestamps, well within the 100 KB kept free.
 */
export const RUN_ITEM_CREATE_LIMIT_BYTES = 300 * 1024;

/**
 * Bytes of script names kept in a run item's `rsql_jobs` (64 KiB). The seed listed every job's
 * script there; with 10,000 jobs of up to 1,024 characters that cannot fit in one item, so the item
 * keeps each distinct script name once, in first-appearance order, up to this budget, and says how
 * many it left out. The full per-job list is the job audit table (see `RunRepository` readers).
 */
export const RSQL_JOBS_BUDGET_BYTES = 64 * 1024;

/** Run item attribute: number of jobs in the run (rsql_jobs holds distinct names only). */
export const RSQL_JOB_COUNT_ATTRIBUTE = 'rsql_job_count';
/** Run item attribute: distinct script names left out of rsql_jobs for size (0 normally). */
export const RSQL_JOBS_OMITTED_ATTRIBUTE = 'rsql_jobs_omitted';
/** Job item attribute: the `by_sequence` LSI's sort key, jobSequence(stage, job_no). */
export const JOB_SEQUENCE_ATTRIBUTE = 'job_seq';
/**
 * Config item attribute: the workflow's Running executions (a string set) — the slots that
 * `max_active_runs` limits. Not part of the definition: DefinitionRepository.get leaves it out.
 */
export const ACTIVE_RUNS_ATTRIBUTE = 'rsqlo_active_runs';

const RUN_STORAGE_ATTRIBUTES = ['rsql_jobs', RSQL_JOB_COUNT_ATTRIBUTE, RSQL_JOBS_OMITTED_ATTRIBUTE] as const;

/**
 * Job attributes that are key attributes of a secondary index and may be null in the contract.
 * DynamoDB refuses a NULL-typed index key, so a null is stored as "absent" (the row then stays out
 * of that sparse index: `by_job_name` lists started jobs only).
 *
 * `waiting_for` (issue 14) is deliberately not one: a null is stored as NULL and read back as null,
 * so a row reads the same as in SQLite (absent stays absent, null stays null). The aggregator's
 * stream filter tells "waiting" by the string type (`waiting_for.S` exists), which a NULL has not.
 */
export const SPARSE_JOB_ATTRIBUTES = ['execution_start_ts'] as const;

/**
 * Config item key prefixes of issue 14 (a workflow_id has no ":"): `pool:<NAME>` holds a resource
 * pool (runtime/aws/dynamo-pools.ts), `hold:<workflow_id>` a workflow's hold state
 * (runtime/aws/dynamo-operator.ts). Neither is a definition: readers of definitions skip them.
 */
export const POOL_KEY_PREFIX = 'pool:';
export const HOLD_KEY_PREFIX = 'hold:';

/** An item would exceed what DynamoDB stores in one item (the starter refuses such a request). */
export class ItemTooLargeError extends RecordTooLargeError {
  override name = 'ItemTooLargeError';
}

/** A job row as stored: with its sequence number, without null index keys. */
export function jobToItem(job: JobAuditRecord): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...job,
    [JOB_SEQUENCE_ATTRIBUTE]: jobSequence(job.stage, job.job_no),
  };
  for (const a of SPARSE_JOB_ATTRIBUTES) if (item[a] === null) delete item[a];
  return item;
}

/** A stored job item back as the contract's record. */
export function jobFromItem(item: Record<string, unknown>): JobAuditRecord {
  const { [JOB_SEQUENCE_ATTRIBUTE]: _seq, ...rest } = item;
  for (const a of SPARSE_JOB_ATTRIBUTES) if (rest[a] === undefined) rest[a] = null;
  return rest as unknown as JobAuditRecord;
}

/**
 * Distinct names in first-appearance order, as many as fit `budget` bytes (UTF-8 plus DynamoDB's
 * one byte of overhead per list element); `omitted` counts the distinct names left out.
 */
export function compactScriptNames(
  names: readonly string[],
  budget = RSQL_JOBS_BUDGET_BYTES,
): { names: string[]; omitted: number } {
  const seen = new Set<string>();
  const kept: string[] = [];
  let used = 0;
  let omitted = 0;
  for (const n of names) {
    if (seen.has(n)) continue;
    seen.add(n);
    const cost = Buffer.byteLength(n, 'utf8') + 1;
    if (omitted === 0 && used + cost <= budget) {
      kept.push(n);
      used += cost;
    } else {
      omitted++;
    }
  }
  return { names: kept, omitted };
}

/**
 * A run record as stored: `rsql_jobs` compacted (see RSQL_JOBS_BUDGET_BYTES) with the job count
 * beside it. Throws ItemTooLargeError when even then the item is over RUN_ITEM_CREATE_LIMIT_BYTES
 * (thousands of stages, or huge parameters): better refused at creation than stuck half-way.
 */
export function runToItem(record: WorkflowAuditRecord): Record<string, unknown> {
  const { names, omitted } = compactScriptNames(record.rsql_jobs);
  const item: Record<string, unknown> = {
    ...record,
    rsql_jobs: names,
    [RSQL_JOB_COUNT_ATTRIBUTE]: record.rsql_jobs.length,
    [RSQL_JOBS_OMITTED_ATTRIBUTE]: omitted,
  };
  const size = itemSize(item);
  if (size > RUN_ITEM_CREATE_LIMIT_BYTES) {
    throw new ItemTooLargeError(
      `the workflow audit item of ${record.workflow_execution_id} would be ${size} bytes, over the ${RUN_ITEM_CREATE_LIMIT_BYTES} bytes rsqlo allows at creation (DynamoDB stores at most ${MAX_ITEM_BYTES} per item): ${record.stages.length} stages, ${Object.keys(record.parameters).length} parameters`,
    );
  }
  return item;
}

/** A stored run item as services read it (without the storage-only attributes and rsql_jobs). */
export function runFromItem(item: Record<string, unknown>): WorkflowRunState {
  const rest: Record<string, unknown> = { ...item };
  for (const a of RUN_STORAGE_ATTRIBUTES) delete rest[a];
  return rest as unknown as WorkflowRunState;
}

/**
 * The size DynamoDB charges for an item given as DocumentClient values (its documented rules:
 * attribute names and values in UTF-8, numbers ~1 byte per 2 significant digits + 1, booleans and
 * nulls 1, lists and maps 3 + 1 per element, sets the sum of their members).
 */
export function itemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += Buffer.byteLength(name, 'utf8') + valueSize(value);
  }
  return size;
}

function valueSize(v: unknown): number {
  if (v === null || typeof v === 'boolean') return 1;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (typeof v === 'number' || typeof v === 'bigint') return numberSize(v);
  if (v instanceof Set) {
    let s = 0;
    for (const m of v) s += typeof m === 'string' ? Buffer.byteLength(m, 'utf8') : numberSize(m as number);
    return s;
  }
  if (v instanceof Uint8Array) return v.byteLength;
  if (Array.isArray(v)) {
    let s = 3;
    for (const e of v) s += 1 + valueSize(e);
    return s;
  }
  if (typeof v === 'object') {
    let s = 3;
    for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
      if (e === undefined) continue;
      s += 1 + Buffer.byteLength(k, 'utf8') + valueSize(e);
    }
    return s;
  }
  return 0;
}

function numberSize(n: number | bigint): number {
  const digits = String(n)
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}
