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
  OPERATOR_REQUEST_TYPES,
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
  JobSetOkRequested: ['version', 'event_id', 'occurred_at'],
  JobRerunRequested: ['version', 'event_id', 'occurred_at', 'reason'],
  JobBypassRequested: ['version', 'event_id', 'occurred_at'],
  HoldRequested: ['version', 'event_id', 'workflow_execution_id', 'reason'],
  FreeRequested: ['version', 'event_id', 'workflow_execution_id', 'reason'],
  PoolResizeRequested: ['version', 'event_id', 'reason'],
  JobSetOk: [],
  JobRerunStarted: [],
  JobBypassed: [],
  RunHeld: [],
  RunFreed: [],
  PoolResized: [],
  PoolCreated: [],
  PoolSlotFreed: [],
  OperatorActionRejected: [],
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
      ...OPERATOR_REQUEST_TYPES,
      'JobSetOk',
      'JobRerunStarted',
      'JobBypassed',
      'RunHeld',
      'RunFreed',
      'PoolResized',
      'PoolCreated',
      'PoolSlotFreed',
      'OperatorActionRejected',
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
    // Pool events carry no run: they have no workflow fields to refuse.
    if (!(field in (EVENT_SCHEMAS[dt] as z.ZodObject).shape)) return;
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

describe('operator requests and outcomes (issue 14)', () => {
  const job = { workflow_id: 'wf', workflow_execution_id: 'wf-1', job_key: '2.1', attempt: 1 };

  it('set-ok and bypass need a reason and who asked; rerun only who asked', () => {
    expect(issuePaths('JobSetOkRequested', { ...job, requested_by: 'user:a' })).toEqual(['reason']);
    expect(issuePaths('JobBypassRequested', { ...job, reason: 'x' })).toEqual(['requested_by']);
    expect(issuePaths('JobSetOkRequested', { ...job, reason: '', requested_by: 'user:a' })).toEqual([
      'reason',
    ]);
    expect(EVENT_SCHEMAS.JobRerunRequested.parse({ ...job, requested_by: 'user:a' })).toEqual({
      ...job,
      requested_by: 'user:a',
      version: EVENT_VERSION,
    });
  });

  it('job requests name the attempt (the dedupe key) and a real job key', () => {
    const { attempt: _, ...noAttempt } = job;
    expect(issuePaths('JobRerunRequested', { ...noAttempt, requested_by: 'user:a' })).toEqual(['attempt']);
    expect(issuePaths('JobRerunRequested', { ...job, attempt: 0, requested_by: 'user:a' })).toEqual([
      'attempt',
    ]);
    expect(issuePaths('JobRerunRequested', { ...job, job_key: '2', requested_by: 'user:a' })).toEqual([
      'job_key',
    ]);
  });

  it('refuses a reason longer than 1024 characters and a requested_by longer than 256', () => {
    const d = { ...job, reason: 'r'.repeat(1025), requested_by: 'u'.repeat(257) };
    expect(issuePaths('JobSetOkRequested', d).sort()).toEqual(['reason', 'requested_by']);
  });

  it('hold/free need occurred_at (they are ordered by it); the execution id is optional (workflow scope)', () => {
    const hold = { workflow_id: 'wf', requested_by: 'user:a' };
    expect(issuePaths('HoldRequested', hold)).toEqual(['occurred_at']);
    const parsed = EVENT_SCHEMAS.FreeRequested.parse({ ...hold, occurred_at: '2024-05-01T00:00:00.000Z' });
    expect(parsed.workflow_execution_id).toBeUndefined();
  });

  it('pool sizes are whole numbers from 0 (drain) to 1000, pool names a safe charset', () => {
    const req = { pool: 'wlm', requested_by: 'user:a', occurred_at: '2024-05-01T00:00:00.000Z' };
    expect(EVENT_SCHEMAS.PoolResizeRequested.safeParse({ ...req, slots: 0 }).success).toBe(true);
    expect(EVENT_SCHEMAS.PoolResizeRequested.safeParse({ ...req, slots: 1000 }).success).toBe(true);
    for (const slots of [-1, 1001, 1.5, '2']) {
      expect(issuePaths('PoolResizeRequested', { ...req, slots }), String(slots)).toEqual(['slots']);
    }
    for (const pool of ['', 'a b', 'p:1', 'x'.repeat(65)]) {
      expect(new Set(issuePaths('PoolResizeRequested', { ...req, slots: 1, pool })), pool).toEqual(
        new Set(['pool']),
      );
    }
  });

  it('RunHeld/RunFreed and OperatorActionRejected allow a null run', () => {
    expect(EVENT_SCHEMAS.RunFreed.safeParse(EVENT_EXAMPLES.RunFreed).success).toBe(true);
    expect(EVENT_EXAMPLES.RunFreed.workflow_execution_id).toBeNull();
    const rej = { ...EVENT_EXAMPLES.OperatorActionRejected, workflow_id: null, workflow_execution_id: null };
    expect(EVENT_SCHEMAS.OperatorActionRejected.safeParse({ ...rej, action: 'pool_set' }).success).toBe(true);
    expect(issuePaths('OperatorActionRejected', { ...rej, reason: 'Because' })).toEqual(['reason']);
  });

  it('gives deterministic ids; a reopened run ending again gets a :g<n> id, generation 0 keeps the old id', () => {
    expect(eventIds.stageCompleted('e', 2)).toBe('StageCompleted:e:2');
    expect(eventIds.stageCompleted('e', 2, 0)).toBe('StageCompleted:e:2');
    expect(eventIds.stageCompleted('e', 2, 1)).toBe('StageCompleted:e:2:g1');
    expect(eventIds.workflowFinished('e')).toBe('WorkflowFinished:e');
    expect(eventIds.workflowFinished('e', 3)).toBe('WorkflowFinished:e:g3');
    expect(eventIds.jobSetOk('e', '2.1', 1)).toBe('JobSetOk:e:2.1:a1');
    expect(eventIds.jobRerunStarted('e', '2.1', 2)).toBe('JobRerun:e:2.1:a2');
    expect(eventIds.jobBypassed('e', '3.1', 1)).toBe('JobBypassed:e:3.1:a1');
    expect(eventIds.runHeld({ workflow_id: 'wf', workflow_execution_id: 'e' }, 'r1')).toBe('RunHeld:e:r1');
    expect(eventIds.runFreed({ workflow_id: 'wf', workflow_execution_id: null }, 'r2')).toBe(
      'RunFreed:wf:wf:r2',
    );
    expect(eventIds.poolCreated('wlm')).toBe('PoolCreated:wlm');
    expect(eventIds.poolSlotFreed('wlm', 'e-2-1-a1')).toBe('PoolSlotFreed:wlm:e-2-1-a1');
    expect(eventIds.poolResized('wlm', 'r3')).toBe('PoolResized:wlm:r3');
    expect(eventIds.operatorActionRejected('r4')).toBe('OperatorActionRejected:r4');
  });

  it('StageCompleted and WorkflowFinished take an optional generation', () => {
    expect(
      EVENT_SCHEMAS.WorkflowFinished.parse({ ...EVENT_EXAMPLES.WorkflowFinished, generation: 1 }).generation,
    ).toBe(1);
    expect(issuePaths('StageCompleted', { ...EVENT_EXAMPLES.StageCompleted, generation: -1 })).toEqual([
      'generation',
    ]);
  });
});
