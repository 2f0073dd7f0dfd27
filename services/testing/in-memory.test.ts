import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import type { RsqloEvent } from '../../contracts/events.js';
import { validateDefinition, type WorkflowDefinitionInput } from '../../contracts/workflow.js';
import { toEnvelope } from '../../events/envelope.js';
// The real SQLite store, to hold the fake to the same semantics (test-only import).
import { LocalStore } from '../../runtime/local/store.js';
import type { JobRepository, RunRepository } from '../ports.js';
import { stageReadyEvent } from '../shared/progress.js';
import { planRun } from '../starter/plan.js';
import { parallel, sequential, workflow } from './fixtures.js';
import { createSimulation, diffValues, FakeClock, InjectedFaultError, InMemoryStore } from './in-memory.js';

const START = '2024-01-01T00:00:00.000Z';

function planned(def: WorkflowDefinitionInput, exec: string, at = START) {
  const r = validateDefinition(def);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return planRun({ definition: r.definition, workflowExecutionId: exec, now: new Date(at), parameters: {} });
}

interface Effects {
  events: Array<{ detailType: string; detail: unknown }>;
  messages: Array<{ body: unknown; visibleAt: number }>;
  changes: JobAuditRecord[];
}

interface Harness {
  runs: RunRepository;
  jobs: JobRepository;
  clock: FakeClock;
  effects(): Effects;
  state(execs: string[]): { runs: Array<WorkflowRunState | undefined>; jobs: JobAuditRecord[][] };
}

function sqliteHarness(): Harness {
  const clock = new FakeClock(START);
  const store = new LocalStore(':memory:', { now: () => clock.millis });
  const events: Effects['events'] = [];
  store.onCommittedEvent((e) => events.push({ detailType: e['detail-type'], detail: e.detail }));
  return {
    runs: store.runs(),
    jobs: store.jobs(),
    clock,
    effects: () => ({
      events,
      messages: (
        store.db.prepare('SELECT body, visible_at FROM queue ORDER BY id').all() as Array<{
          body: string;
          visible_at: number;
        }>
      ).map((m) => ({ body: JSON.parse(m.body), visibleAt: m.visible_at })),
      changes: store
        .readyOutbox(10_000)
        .filter((r) => r.target === 'aggregator')
        .map((r) => JSON.parse(r.payload) as JobAuditRecord),
    }),
    state: (execs) => ({
      runs: execs.map((e) => store.getRunSync(e)),
      jobs: execs.map((e) => store.listJobsSync(e)),
    }),
  };
}

function memoryHarness(): Harness {
  const clock = new FakeClock(START);
  const store = new InMemoryStore(clock);
  return {
    runs: store.runs(),
    jobs: store.jobs(),
    clock,
    effects: () => ({
      events: store.outbox.flatMap((r) =>
        r.kind === 'event' ? [{ detailType: r.event.detailType, detail: r.event.detail }] : [],
      ),
      messages: store.outbox.flatMap((r) =>
        r.kind === 'message' ? [{ body: r.message.body, visibleAt: r.visibleAt }] : [],
      ),
      changes: store.outbox.flatMap((r) => (r.kind === 'change' ? [r.job] : [])),
    }),
    state: (execs) => ({
      runs: execs.map((e) => store.getRunSync(e)),
      jobs: execs.map((e) => store.listJobsSync(e)),
    }),
  };
}

const WF = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh']), sequential(['d.sh', 'e.sh'])], {
  defaults: { retries: 1 },
});

/** Every port operation with its interesting outcomes; returns what each call returned. */
async function play(h: Harness): Promise<unknown[]> {
  const out: unknown[] = [];
  const { runs, jobs } = h;
  const p1 = planned(WF, 'r1');
  const ev = (run: WorkflowRunState, cause: string): RsqloEvent => stageReadyEvent(run, 1, cause, START);

  // createRun: created, exists, refused by the limit, allowed for a run that is not Running.
  out.push(await runs.createRun(p1.run, p1.jobs, { maxActiveRuns: 1 }, { events: [ev(p1.run, 'start')] }));
  out.push(await runs.createRun(p1.run, p1.jobs, { maxActiveRuns: 1 }, { events: [ev(p1.run, 'again')] }));
  const p2 = planned(WF, 'r2', '2024-01-01T00:00:01.000Z');
  out.push(await runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 1 }, {}));
  const off = planned(
    workflow('wf', [sequential(['x.sh'], { enabled: false })]),
    'r3',
    '2024-01-01T00:00:02.000Z',
  );
  out.push(await runs.createRun(off.run, off.jobs, { maxActiveRuns: 1 }, {}));
  out.push(await runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 2 }, {}));

  // claimJobs: stale cursor, a job that is not Pending (nothing changes), success.
  const claim = (expectedCursor: number, newCursor: number, keys: string[]) => ({
    workflowExecutionId: 'r1',
    stage: 1,
    expectedCursor,
    newCursor,
    jobs: keys.map((jobKey) => ({ jobKey, attempt: 1 })),
    at: START,
  });
  out.push(await runs.claimJobs(claim(1, 2, ['1.1']), {}));
  out.push(await runs.claimJobs(claim(0, 2, ['1.1', '1.2']), {}));
  out.push(await runs.claimJobs(claim(0, 2, ['1.1', '1.2']), {}));
  out.push(await runs.claimJobs(claim(2, 3, ['1.3', '1.2']), {}));
  out.push(await runs.claimJobs(claim(2, 3, ['1.3']), { messages: [{ body: msg('1.3'), delaySeconds: 7 }] }));

  // transition: wrong attempt, wrong status, success with effects, change feed on a final status.
  const t = (jobKey: string, attempt: number, statuses: JobAuditRecord['execution_status'][], set: object) =>
    jobs.transition({ workflowExecutionId: 'r1', jobKey, expect: { attempt, statuses }, set });
  out.push(await t('1.1', 2, ['Queued'], { execution_status: 'Dispatched' }));
  out.push(await t('1.1', 1, ['Running'], { execution_status: 'Completed' }));
  out.push(await t('1.1', 1, ['Queued'], { execution_status: 'Running', instance_id: 'i-1' }));
  out.push(await t('1.1', 1, ['Running'], { execution_status: 'Completed', exit_code: 0 }));
  out.push(await t('1.2', 1, ['Queued'], { execution_status: 'Failed', exit_code: 2 }));
  h.clock.advance(1000);
  out.push(
    await jobs.transition(
      {
        workflowExecutionId: 'r1',
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Failed'] },
        set: { execution_status: 'Pending', attempt: 2 },
      },
      { messages: [{ body: msg('1.2', 2), delaySeconds: 30 }] },
    ),
  );

  // countJob: counts once, only the expected attempt and status; derive sees the counted run.
  const count = (jobKey: string, attempt: number, status: 'Completed' | 'Failed', cause: string) =>
    runs.countJob({ workflowExecutionId: 'r1', jobKey, stage: 1, attempt, status, failure: null }, (run) => ({
      events: [ev(run, `${cause}-${run.stages[0]?.finished}`)],
    }));
  out.push(await count('1.1', 1, 'Completed', 'c'));
  out.push(await count('1.1', 1, 'Completed', 'c'));
  out.push(await count('1.2', 1, 'Failed', 'c'));
  out.push(await count('1.3', 1, 'Completed', 'c'));

  // requestCancel, completeStage (conditional), skipPending (idempotent).
  out.push(await runs.requestCancel('r2'));
  out.push(await runs.requestCancel('r2'));
  out.push(await runs.requestCancel('nope'));
  const completion = {
    workflowExecutionId: 'r1',
    stage: 1,
    status: 'Failed' as const,
    at: '2024-01-01T00:05:00.000Z',
    nextStage: null,
    runStatus: 'Failed' as const,
    skippedByStage: { 2: 2 },
    endedStages: [{ stage: 2, status: 'Skipped' as const }],
  };
  out.push(await runs.completeStage({ ...completion, stage: 2 }, {}));
  out.push(await runs.completeStage(completion, { events: [ev(p1.run, 'done')] }));
  out.push(await runs.completeStage(completion, { events: [ev(p1.run, 'done-again')] }));
  out.push(await jobs.skipPending('r1', 1, 3, (j) => `skip ${j.stage}.${j.job_no}`));
  out.push(await jobs.skipPending('r1', 1, 3, () => 'again'));

  // Reads.
  out.push(await jobs.listStageJobs('r1', 1, 1, 1));
  out.push(await jobs.listStageJobs('r1', 2, 0, 10));
  out.push(await jobs.getJob('r1', '9.9'));
  out.push((await runs.listRuns('wf', 2)).map((r) => r.workflow_execution_id));
  return out;
}

function msg(jobKey: string, attempt = 1) {
  return { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: jobKey, attempt };
}

describe("InMemoryStore has the SQLite store's semantics", () => {
  it('returns the same results, ends in the same state and records the same effects', async () => {
    const sqlite = sqliteHarness();
    const memory = memoryHarness();
    const a = await play(sqlite);
    const b = await play(memory);
    expect(diffValues(b, a, 'results')).toEqual([]);
    const execs = ['r1', 'r2', 'r3'];
    expect(diffValues(memory.state(execs), sqlite.state(execs), 'state')).toEqual([]);
    expect(diffValues(memory.effects(), sqlite.effects(), 'effects')).toEqual([]);
    // And the play did exercise each outcome.
    expect(a.slice(0, 5)).toMatchObject([
      { outcome: 'created' },
      { outcome: 'exists' },
      { outcome: 'limit', active: ['r1'] },
      { outcome: 'created' },
      { outcome: 'created' },
    ]);
    expect(a.slice(5, 10)).toEqual(['conflict', 'claimed', 'conflict', 'conflict', 'claimed']);
    expect(memory.effects().changes.map((c) => [c.job_key, c.execution_status, c.attempt])).toEqual([
      ['1.1', 'Completed', 1],
      ['1.2', 'Failed', 1],
      ['1.2', 'Pending', 2],
    ]);
  });
});

describe('InMemoryStore checks', () => {
  it('records a job moving backwards and a row that breaks its contract', async () => {
    const clock = new FakeClock();
    const store = new InMemoryStore(clock);
    const p = planned(WF, 'r1');
    await store.runs().createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    const t = (statuses: JobAuditRecord['execution_status'][], set: object) =>
      store
        .jobs()
        .transition({ workflowExecutionId: 'r1', jobKey: '1.1', expect: { attempt: 1, statuses }, set });
    await t(['Pending'], { execution_status: 'Completed' });
    expect(store.violations).toEqual([]);
    await t(['Completed'], { execution_status: 'Running' });
    await t(['Running'], { execution_status: 'Running', exit_code: 1.5 });
    expect(store.violations).toHaveLength(2);
    expect(store.violations[0]).toContain('moved backwards: Completed@1 → Running@1');
    expect(store.violations[1]).toContain('invalid job row r1/1.1');
  });

  it('injects faults before (nothing changes) and after (the change is committed) a call', async () => {
    const store = new InMemoryStore(new FakeClock());
    const p = planned(WF, 'r1');
    store.injectFault({ method: 'createRun', when: 'before' });
    await expect(store.runs().createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).rejects.toBeInstanceOf(
      InjectedFaultError,
    );
    expect(store.getRunSync('r1')).toBeUndefined();
    store.injectFault({ method: 'createRun', when: 'after' });
    await expect(store.runs().createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).rejects.toBeInstanceOf(
      InjectedFaultError,
    );
    expect(store.getRunSync('r1')?.workflow_execution_id).toBe('r1');
    expect(await store.runs().createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).toMatchObject({
      outcome: 'exists',
    });
  });

  it('hands out copies: changing what a read returned changes nothing stored', async () => {
    const store = new InMemoryStore(new FakeClock());
    const p = planned(WF, 'r1');
    await store.runs().createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    const run = await store.runs().getRun('r1');
    const job = await store.jobs().getJob('r1', '1.1');
    if (!run || !job) throw new Error('missing rows');
    run.execution_status = 'Failed';
    job.previous_attempts.push({} as never);
    expect(store.getRunSync('r1')?.execution_status).toBe('Running');
    expect(store.getJobSync('r1', '1.1')?.previous_attempts).toEqual([]);
  });
});

describe('Simulation', () => {
  const wf = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh']), sequential(['e.sh'])]);
  const play = async (seed?: number) => {
    const sim = createSimulation({
      definitions: [wf],
      ...(seed === undefined ? {} : { chaos: { shuffle: true, duplicate: true, seed } }),
    });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    return sim;
  };

  it('is deterministic: the same seed gives the same deliveries and timeline', async () => {
    const a = await play(7);
    const b = await play(7);
    expect(b.published.map((p) => p.event.detail.event_id)).toEqual(
      a.published.map((p) => p.event.detail.event_id),
    );
    expect(b.timeline).toEqual(a.timeline);
    expect(b.deliveries).toBe(a.deliveries);
  });

  it('duplicates and reorders deliveries when asked', async () => {
    const clean = await play();
    const seeds = [1, 2, 3, 4, 5];
    const chaotic = await Promise.all(seeds.map((s) => play(s)));
    for (const sim of chaotic) expect(sim.deliveries).toBeGreaterThan(clean.deliveries);
    const order = (sim: typeof clean) => sim.timeline.map((t) => `${t.type}${t.job_key}`).join(',');
    expect(new Set(chaotic.map(order)).size).toBeGreaterThan(1);
  });

  it('records every start and finish with its fake time', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('b.sh', { outcome: 'complete', durationSeconds: 25 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    const t0 = Date.parse(START);
    expect(sim.intervals().map((i) => [i.job_key, i.start - t0, (i.end ?? 0) - t0, i.status])).toEqual([
      ['1.1', 0, 10_000, 'Completed'],
      ['1.2', 0, 25_000, 'Completed'],
      ['1.3', 0, 10_000, 'Completed'],
      ['1.4', 0, 10_000, 'Completed'],
      ['2.1', 25_000, 35_000, 'Completed'],
    ]);
    expect(sim.maxConcurrent()).toBe(4);
    expect(sim.clock.millis - t0).toBe(35_000);
  });

  it('stops at hanging jobs, and finishJob ends one', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('c.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r1')?.execution_status).toBe('Running');
    expect(sim.job('r1', '1.3')?.execution_status).toBe('Running');
    expect(sim.pendingCount).toBe(1);
    expect(sim.finishJob('c.sh', { outcome: 'fail', exitCode: 6, message: 'stopped by test' })).toBe(true);
    expect(sim.finishJob('c.sh', { outcome: 'complete' })).toBe(false);
    await sim.runUntilIdle();
    expect(sim.job('r1', '1.3')).toMatchObject({
      execution_status: 'Failed',
      exit_code: 6,
      error_message: 'stopped by test',
    });
    expect(sim.run('r1')?.execution_status).toBe('Failed');
  });

  it('reports an event that breaks its contract', () => {
    const sim = createSimulation();
    sim.publish([{ detailType: 'StageReady', detail: { stage: 0 } as never }]);
    expect(sim.problems()).toHaveLength(1);
    expect(sim.problems()[0]).toContain('invalid StageReady');
  });
});

describe('diffValues', () => {
  it('names the paths that differ', () => {
    expect(diffValues({ a: [1, { b: 2 }], c: 'x' }, { a: [1, { b: 3 }], c: 'x', d: true })).toEqual([
      'a[1].b: 2 ≠ 3',
      'd: undefined ≠ true',
    ]);
    expect(diffValues([1, 2], [1])).toEqual(['(root): length 2 ≠ 1']);
  });
});

describe('Simulation bus delivery', () => {
  it('delivers each copy to the service its route chose, never by detail-type alone', async () => {
    const sim = createSimulation({ definitions: [workflow('wf', [sequential(['a.sh'])])] });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'exec-1' });
    await sim.runUntilIdle();
    const stageReady = sim.published.find((p) => p.event.detailType === 'StageReady');
    if (!stageReady) throw new Error('no StageReady was published');
    // A copy for the recorder, which no route sends StageReady: choosing the method by detail-type
    // would run the planner again instead of refusing it.
    sim.schedule(
      { kind: 'bus', target: 'recorder', envelope: toEnvelope(stageReady.event, { id: 'evt-x' }) },
      sim.clock.millis,
    );
    await sim.runUntilIdle();
    expect(sim.deadLetters.map((d) => [d.kind, d.target, d.error])).toEqual([
      ['bus', 'recorder', 'NonRetriableError: no route delivers StageReady to recorder'],
    ]);
  });
});
