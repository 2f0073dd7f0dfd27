import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { toContractIssues } from './common.js';
import {
  DETAIL_TYPES,
  type DetailType,
  EVENT_SCHEMAS,
  EVENT_SOURCE,
  EVENT_VERSION,
  eventIds,
  isDetailType,
} from './events.js';
import { EVENT_EXAMPLES } from './examples.js';

const EXEC = 'blog_test_workflow-01J9ZQ3V4K8M2N5P7R9S1T3V5X';

/** Fields a producer may leave out, per detail-type; every other field of the example is required. */
const OPTIONAL_FIELDS: Record<DetailType, readonly string[]> = {
  WorkflowRequested: [
    'version',
    'event_id',
    'occurred_at',
    'workflow_execution_id',
    'restart_of',
    'parameters',
    'scheduled_time',
    'requested_by',
  ],
  WorkflowCancelRequested: ['version', 'event_id', 'occurred_at', 'reason', 'requested_by'],
  WorkflowRejected: [],
  // deadline_at: added later (events evolve additively); the starter always sets it.
  WorkflowStarted: ['deadline_at'],
  StageReady: [],
  JobStarted: [],
  JobFinished: [],
  SlaMissed: [],
  RunLongerThanUsual: [],
  StageCompleted: [],
  WorkflowFinished: [],
};

/** Details the engine emits: they carry every common field of ARCHITECTURE.md §1. */
const EMITTED: DetailType[] = [
  'WorkflowRejected',
  'WorkflowStarted',
  'StageReady',
  'JobStarted',
  'JobFinished',
  'StageCompleted',
  'WorkflowFinished',
];

function example(dt: DetailType): Record<string, unknown> {
  return structuredClone(EVENT_EXAMPLES[dt]) as Record<string, unknown>;
}

function issuePaths(dt: DetailType, detail: unknown): string[] {
  const r = (EVENT_SCHEMAS[dt] as z.ZodType).safeParse(detail);
  if (r.success) throw new Error(`${dt}: expected a failure for ${JSON.stringify(detail)}`);
  return toContractIssues(r.error).map((i) => i.path);
}

describe('the set of events', () => {
  it('has the detail-types of ARCHITECTURE.md §1 plus the request/cancel/rejection events', () => {
    expect(DETAIL_TYPES).toEqual([
      'WorkflowRequested',
      'WorkflowCancelRequested',
      'WorkflowRejected',
      'WorkflowStarted',
      'StageReady',
      'JobStarted',
      'JobFinished',
      'StageCompleted',
      'WorkflowFinished',
      'SlaMissed',
      'RunLongerThanUsual',
    ]);
    expect(EVENT_SOURCE).toBe('rsqlo');
    expect(EVENT_VERSION).toBe(1);
  });

  it('isDetailType knows exactly those names (not inherited object keys)', () => {
    for (const dt of DETAIL_TYPES) expect(isDetailType(dt)).toBe(true);
    for (const s of ['toString', '__proto__', 'constructor', 'workflowstarted', 'JobRetried', '']) {
      expect(isDetailType(s), s).toBe(false);
    }
  });
});

describe.each(DETAIL_TYPES)('%s', (dt) => {
  const schema = EVENT_SCHEMAS[dt] as z.ZodType;

  it('parses its example detail', () => {
    const r = schema.safeParse(example(dt));
    expect(r.success ? [] : toContractIssues(r.error)).toEqual([]);
    expect(r.data).toMatchObject(example(dt));
  });

  it('requires exactly the non-optional fields, naming the missing one', () => {
    for (const field of Object.keys(example(dt))) {
      const detail = example(dt);
      delete detail[field];
      if (OPTIONAL_FIELDS[dt].includes(field)) {
        expect(schema.safeParse(detail).success, `${field} should be optional`).toBe(true);
      } else {
        expect(issuePaths(dt, detail), `${field} should be required`).toEqual([field]);
      }
    }
  });

  it('tolerates unknown extra fields (forward compatibility) and drops them', () => {
    const detail = { ...example(dt), added_in_a_later_release: { anything: [1, 2] }, another: null };
    const r = schema.safeParse(detail);
    expect(r.success).toBe(true);
    expect(r.data).not.toHaveProperty('added_in_a_later_release');
  });

  it.each([
    ['workflow_id', 'bad id'],
    ['workflow_execution_id', 'x'.repeat(49)],
    ['occurred_at', '2024-05-01T12:00:00+02:00'],
    ['version', 0],
    ['event_id', ''],
  ])('refuses an invalid %s', (field, bad) => {
    expect(issuePaths(dt, { ...example(dt), [field]: bad })).toEqual([field]);
  });

  it('refuses what is not an object', () => {
    for (const v of [null, 'x', 42, [example(dt)]]) expect(issuePaths(dt, v)).toEqual(['(root)']);
  });
});

describe('common fields', () => {
  it.each(EMITTED)(
    '%s carries version, event_id, occurred_at, workflow_id and workflow_execution_id',
    (dt) => {
      for (const field of ['version', 'event_id', 'occurred_at', 'workflow_id', 'workflow_execution_id']) {
        const detail = example(dt);
        delete detail[field];
        expect(issuePaths(dt, detail)).toEqual([field]);
      }
    },
  );

  it('WorkflowRequested and WorkflowCancelRequested default version to the current one', () => {
    expect(EVENT_SCHEMAS.WorkflowRequested.parse({ workflow_id: 'wf' })).toEqual({
      version: EVENT_VERSION,
      workflow_id: 'wf',
    });
    expect(
      EVENT_SCHEMAS.WorkflowCancelRequested.parse({ workflow_id: 'wf', workflow_execution_id: 'wf-1' })
        .version,
    ).toBe(EVENT_VERSION);
  });
});

describe('event-specific fields', () => {
  it.each<[DetailType, Record<string, unknown>, string]>([
    ['WorkflowRequested', { parameters: { PGPASSWORD: 'x' } }, 'parameters.PGPASSWORD'],
    ['WorkflowRequested', { restart_of: 'a/b' }, 'restart_of'],
    ['WorkflowRequested', { requested_by: 'x'.repeat(257) }, 'requested_by'],
    ['WorkflowCancelRequested', { reason: 'x'.repeat(1025) }, 'reason'],
    ['WorkflowRejected', { reason: 'Busy' }, 'reason'],
    ['WorkflowStarted', { stage_count: 0 }, 'stage_count'],
    [
      'WorkflowStarted',
      { stages: [{ stage: 1, execution_type: 'serial', enabled: true, job_count: 1, jobs_to_run: 1 }] },
      'stages[0].execution_type',
    ],
    ['StageReady', { stage: 0 }, 'stage'],
    ['StageReady', { stage: 1.5 }, 'stage'],
    ['JobStarted', { job_key: '2' }, 'job_key'],
    ['JobStarted', { attempt: 0 }, 'attempt'],
    ['JobStarted', { instance_id: null }, 'instance_id'],
    ['JobFinished', { status: 'Succeeded' }, 'status'],
    ['JobFinished', { status: 'Skipped' }, 'status'],
    ['JobFinished', { exit_code: 1.5 }, 'exit_code'],
    ['JobFinished', { duration_ms: -1 }, 'duration_ms'],
    ['JobFinished', { reported_by: 'someone' }, 'reported_by'],
    ['StageCompleted', { status: 'Running' }, 'status'],
    [
      'StageCompleted',
      { counts: { total: 2, completed: 1, failed: -1, timed_out: 0, cancelled: 0, skipped: 0 } },
      'counts.failed',
    ],
    ['WorkflowFinished', { failed_stage: 0 }, 'failed_stage'],
    ['WorkflowFinished', { failed_jobs: [{ job_key: 'x' }] }, 'failed_jobs[0].job_key'],
  ])('%s refuses %j at %s', (dt, patch, path) => {
    expect(issuePaths(dt, { ...example(dt), ...patch })).toContain(path);
  });

  it('JobFinished accepts every final status but Skipped, and nulls where the reporter knows nothing', () => {
    for (const status of ['Completed', 'Failed', 'TimedOut', 'Cancelled']) {
      expect(EVENT_SCHEMAS.JobFinished.safeParse({ ...example('JobFinished'), status }).success, status).toBe(
        true,
      );
    }
    const fromWrapper = {
      ...example('JobFinished'),
      status: 'TimedOut',
      reported_by: 'wrapper',
      exit_code: null,
      started_at: null,
      duration_ms: null,
      instance_id: null,
      ssm_command_id: null,
      log_location: null,
    };
    expect(EVENT_SCHEMAS.JobFinished.safeParse(fromWrapper).success).toBe(true);
  });
});

describe('eventIds', () => {
  it('gives the same id for the same fact, every time', () => {
    expect(eventIds.workflowStarted(EXEC)).toBe(eventIds.workflowStarted(EXEC));
    expect(eventIds.stageReady(EXEC, 2, 'job:1.2')).toBe(eventIds.stageReady(EXEC, 2, 'job:1.2'));
    expect(eventIds.jobFinished(EXEC, '2.1', 1)).toBe(eventIds.jobFinished(EXEC, '2.1', 1));
  });

  it('has the documented shapes', () => {
    expect(eventIds.workflowStarted('e1')).toBe('WorkflowStarted:e1');
    expect(eventIds.stageReady('e1', 2, 'started')).toBe('StageReady:e1:2:started');
    expect(eventIds.jobStarted('e1', '2.1', 1)).toBe('JobStarted:e1:2.1:a1');
    expect(eventIds.jobFinished('e1', '2.1', 3)).toBe('JobFinished:e1:2.1:a3');
    expect(eventIds.stageCompleted('e1', 2)).toBe('StageCompleted:e1:2');
    expect(eventIds.workflowFinished('e1')).toBe('WorkflowFinished:e1');
    expect(eventIds.workflowRejected('req-1')).toBe('WorkflowRejected:req-1');
  });

  it('gives different facts different ids', () => {
    const ids = [
      eventIds.workflowStarted(EXEC),
      eventIds.workflowFinished(EXEC),
      eventIds.workflowStarted(`${EXEC}x`),
      eventIds.stageReady(EXEC, 1, 'started'),
      eventIds.stageReady(EXEC, 2, 'started'),
      eventIds.stageReady(EXEC, 1, 'job:1.1'),
      eventIds.stageCompleted(EXEC, 1),
      eventIds.stageCompleted(EXEC, 2),
      eventIds.jobStarted(EXEC, '1.1', 1),
      eventIds.jobFinished(EXEC, '1.1', 1),
      eventIds.jobFinished(EXEC, '1.1', 2),
      eventIds.jobFinished(EXEC, '1.11', 1),
      eventIds.jobFinished(EXEC, '11.1', 1),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ids of the longest execution ids fit the event_id bound', () => {
    const id = eventIds.jobFinished('e'.repeat(48), '999.999', 11);
    expect(EVENT_SCHEMAS.JobFinished.shape.event_id.safeParse(id).success).toBe(true);
  });
});
