/**
 * One scenario of repository port calls with every interesting outcome (created / exists / limit,
 * claims that conflict for each reason, transitions on the wrong attempt or status, counting once,
 * conditional stage completion, skips, cancels, reads), played against any implementation. The
 * parity test plays it on the SQLite store (the reference) and on the DynamoDB repositories and
 * compares what each call returned, the rows afterwards and the effects.
 */
import type { JobAuditRecord, JobStatus, WorkflowRunState } from '../../../contracts/audit.js';
import type { RsqloEvent } from '../../../contracts/events.js';
import { validateDefinition, type WorkflowDefinitionInput } from '../../../contracts/workflow.js';
import type { JobRepository, RunRepository, StageCompletion } from '../../../services/ports.js';
import { stageReadyEvent } from '../../../services/shared/progress.js';
import { planRun } from '../../../services/starter/plan.js';
import { parallel, sequential, workflow } from '../../../services/testing/fixtures.js';
import type { FakeClock } from '../../../services/testing/in-memory.js';

export const SCENARIO_START = '2024-01-01T00:00:00.000Z';

/** What a state change caused, in order. */
export interface RecordedEffects {
  events: Array<{ detailType: string; detail: unknown }>;
  /** Queue messages with the (fake) time their delay ends. */
  messages: Array<{ body: unknown; visibleAt: number }>;
  /** The change feed (SQLite) / the stream through the aggregator's filter (DynamoDB), Queued left out. */
  changes: JobAuditRecord[];
}

export interface PortHarness {
  runs: RunRepository;
  jobs: JobRepository;
  clock: FakeClock;
  effects(): Promise<RecordedEffects>;
  state(execs: string[]): Promise<{ runs: Array<WorkflowRunState | undefined>; jobs: JobAuditRecord[][] }>;
}

/** The workflow the scenario runs: a parallel stage of three and a sequential stage of two. */
export const SCENARIO_WORKFLOW = workflow(
  'wf',
  [parallel(['a.sh', 'b.sh', 'c.sh']), sequential(['d.sh', 'e.sh'])],
  {
    defaults: { retries: 1 },
  },
);

export function planned(def: WorkflowDefinitionInput, exec: string, at = SCENARIO_START) {
  const r = validateDefinition(def);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return planRun({ definition: r.definition, workflowExecutionId: exec, now: new Date(at), parameters: {} });
}

function msg(jobKey: string, attempt = 1) {
  return { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: jobKey, attempt };
}

/** Plays the scenario; returns what each call returned, in order. */
export async function playPortScenario(h: PortHarness): Promise<unknown[]> {
  const out: unknown[] = [];
  const { runs, jobs } = h;
  const p1 = planned(SCENARIO_WORKFLOW, 'r1');
  const ev = (run: WorkflowRunState, cause: string): RsqloEvent =>
    stageReadyEvent(run, 1, cause, SCENARIO_START);

  // createRun: created, exists, refused by the limit, allowed for a run that is not Running.
  out.push(await runs.createRun(p1.run, p1.jobs, { maxActiveRuns: 1 }, { events: [ev(p1.run, 'start')] }));
  out.push(await runs.createRun(p1.run, p1.jobs, { maxActiveRuns: 1 }, { events: [ev(p1.run, 'again')] }));
  const p2 = planned(SCENARIO_WORKFLOW, 'r2', '2024-01-01T00:00:01.000Z');
  out.push(await runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 1 }, {}));
  const off = planned(
    workflow('wf', [sequential(['x.sh'], { enabled: false })]),
    'r3',
    '2024-01-01T00:00:02.000Z',
  );
  out.push(await runs.createRun(off.run, off.jobs, { maxActiveRuns: 1 }, {}));
  out.push(await runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 2 }, {}));
  const p4 = planned(SCENARIO_WORKFLOW, 'r4', '2024-01-01T00:00:01.000Z');
  out.push(await runs.createRun(p4.run, p4.jobs, { maxActiveRuns: 2 }, {}));

  // claimJobs: stale cursor, a job that is not Pending (nothing changes), success.
  const claim = (expectedCursor: number, newCursor: number, keys: string[], exec = 'r1') => ({
    workflowExecutionId: exec,
    stage: 1,
    expectedCursor,
    newCursor,
    jobs: keys.map((jobKey) => ({ jobKey, attempt: 1 })),
    at: SCENARIO_START,
  });
  out.push(await runs.claimJobs(claim(1, 2, ['1.1']), {}));
  out.push(await runs.claimJobs(claim(0, 2, ['1.1', '1.2']), {}));
  out.push(await runs.claimJobs(claim(0, 2, ['1.1', '1.2']), {}));
  out.push(await runs.claimJobs(claim(2, 3, ['1.3', '1.2']), {}));
  out.push(await runs.claimJobs(claim(2, 3, ['1.3']), { messages: [{ body: msg('1.3'), delaySeconds: 7 }] }));
  out.push(await runs.claimJobs({ ...claim(0, 1, ['1.1']), stage: 9 }, {}));
  out.push(await runs.claimJobs(claim(0, 1, ['1.1'], 'nope'), {}));

  // transition: wrong attempt, wrong status, success with effects, change feed on a final status.
  const t = (jobKey: string, attempt: number, statuses: JobStatus[], set: object, exec = 'r1') =>
    jobs.transition({ workflowExecutionId: exec, jobKey, expect: { attempt, statuses }, set });
  out.push(await t('1.1', 2, ['Queued'], { execution_status: 'Dispatched' }));
  out.push(await t('1.1', 1, ['Running'], { execution_status: 'Completed' }));
  out.push(
    await t('1.1', 1, ['Queued'], {
      execution_status: 'Running',
      instance_id: 'i-1',
      execution_start_ts: '2024-01-01T00:00:00.500Z',
    }),
  );
  out.push(await t('1.1', 1, ['Running'], { execution_status: 'Completed', exit_code: 0 }));
  out.push(
    await t('1.2', 1, ['Queued'], {
      execution_status: 'Failed',
      exit_code: 2,
      execution_start_ts: '2024-01-01T00:00:00.700Z',
      error_message: 'ERROR: relation "x" does not exist',
    }),
  );
  out.push(await t('9.9', 1, ['Pending'], { execution_status: 'Queued' }));
  // The host condition (a dispatcher's claim against another Dispatch try): another host named →
  // refused; no host yet → claimed, then refused to a second claimant; the named host → applies.
  const onHost = (jobKey: string, instanceId: string | null, statuses: JobStatus[], set: object) =>
    jobs.transition({ workflowExecutionId: 'r1', jobKey, expect: { attempt: 1, statuses, instanceId }, set });
  out.push(await onHost('1.1', 'i-2', ['Completed'], { error_message: 'not on this host' }));
  out.push(await onHost('1.3', null, ['Queued'], { instance_id: 'i-3' }));
  out.push(await onHost('1.3', null, ['Queued'], { instance_id: 'i-4' }));
  out.push(await onHost('1.3', 'i-3', ['Queued'], { ssm_command_id: 'cmd-3' }));
  h.clock.advance(1000);
  // A retry: the next attempt starts from a clean row (start time back to null).
  out.push(
    await jobs.transition(
      {
        workflowExecutionId: 'r1',
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Failed'] },
        set: {
          execution_status: 'Pending',
          attempt: 2,
          execution_start_ts: null,
          exit_code: null,
          not_before: '2024-01-01T00:00:31.000Z',
          previous_attempts: [
            {
              attempt: 1,
              execution_status: 'Failed',
              execution_start_ts: '2024-01-01T00:00:00.700Z',
              execution_end_ts: null,
              exit_code: 2,
              error_message: 'ERROR: relation "x" does not exist',
              instance_id: null,
              ssm_command_id: null,
              log_location: null,
            },
          ],
        },
      },
      { messages: [{ body: msg('1.2', 2), delaySeconds: 30 }] },
    ),
  );

  // countJob: counts once, only the expected attempt and status; derive sees the counted run.
  const count = (
    jobKey: string,
    attempt: number,
    status: 'Completed' | 'Failed',
    cause: string,
    failure = false,
  ) =>
    runs.countJob(
      {
        workflowExecutionId: 'r1',
        jobKey,
        stage: 1,
        attempt,
        status,
        failure: failure
          ? {
              job_key: jobKey,
              job_name: 'b.sh',
              status: 'Failed',
              exit_code: 2,
              error_message: 'boom',
              log_location: null,
            }
          : null,
      },
      (run) => ({ events: [ev(run, `${cause}-${run.stages[0]?.finished}`)] }),
    );
  out.push(await count('1.1', 1, 'Completed', 'c'));
  out.push(await count('1.1', 1, 'Completed', 'c'));
  out.push(await count('1.2', 1, 'Failed', 'c', true));
  out.push(await count('1.3', 1, 'Completed', 'c'));
  out.push(await t('1.3', 1, ['Queued'], { execution_status: 'Failed', exit_code: 1 }));
  out.push(await count('1.3', 1, 'Failed', 'c', true));
  out.push(
    await runs.countJob(
      {
        workflowExecutionId: 'nope',
        jobKey: '1.1',
        stage: 1,
        attempt: 1,
        status: 'Completed',
        failure: null,
      },
      () => ({}),
    ),
  );

  // requestCancel, completeStage (conditional), skipPending (idempotent).
  out.push(await runs.requestCancel('r2'));
  out.push(await runs.requestCancel('r2'));
  out.push(await runs.requestCancel('nope'));
  out.push(await runs.requestCancel('r3'));
  const completion: StageCompletion = {
    workflowExecutionId: 'r1',
    stage: 1,
    status: 'Failed',
    at: '2024-01-01T00:05:00.000Z',
    nextStage: null,
    runStatus: 'Failed',
    skippedByStage: { 2: 2 },
    endedStages: [{ stage: 2, status: 'Skipped' }],
  };
  out.push(await runs.completeStage({ ...completion, stage: 2 }, {}));
  out.push(await runs.completeStage(completion, { events: [ev(p1.run, 'done')] }));
  out.push(await runs.completeStage(completion, { events: [ev(p1.run, 'done-again')] }));
  out.push(await jobs.skipPending('r1', 1, 3, (j) => `skip ${j.stage}.${j.job_no}`));
  out.push(await jobs.skipPending('r1', 1, 3, () => 'again'));
  // Slots: r1 ended (Failed) and freed one; r5 takes it; r4 is refused until r2 ends (Cancelled).
  const p5 = planned(SCENARIO_WORKFLOW, 'r5', '2024-01-01T00:00:03.000Z');
  out.push(await runs.createRun(p5.run, p5.jobs, { maxActiveRuns: 2 }, {}));
  out.push(await runs.createRun(p4.run, p4.jobs, { maxActiveRuns: 2 }, {}));
  out.push(
    await runs.completeStage(
      {
        workflowExecutionId: 'r2',
        stage: 1,
        status: 'Cancelled',
        at: '2024-01-01T00:07:00.000Z',
        nextStage: null,
        runStatus: 'Cancelled',
        skippedByStage: { 1: 3, 2: 2 },
        endedStages: [{ stage: 2, status: 'Skipped' }],
      },
      {},
    ),
  );
  out.push(await runs.createRun(p4.run, p4.jobs, { maxActiveRuns: 2 }, {}));
  // r4 moves on to its second stage.
  out.push(
    await runs.completeStage(
      {
        workflowExecutionId: 'r4',
        stage: 1,
        status: 'Completed',
        at: '2024-01-01T00:08:00.000Z',
        nextStage: 2,
        runStatus: null,
        skippedByStage: {},
        endedStages: [],
      },
      {},
    ),
  );

  // Reads.
  out.push(await jobs.listStageJobs('r1', 1, 1, 1));
  out.push(await jobs.listStageJobs('r1', 1, 0, 10));
  out.push(await jobs.listStageJobs('r1', 2, 0, 10));
  out.push(await jobs.listStageJobs('r1', 2, 2, 10));
  out.push(await jobs.listStageJobs('r1', 1, 0, 0));
  out.push(await jobs.getJob('r1', '9.9'));
  out.push(await jobs.getJob('r1', '1.2'));
  out.push((await runs.listRuns('wf', 2)).map((r) => r.workflow_execution_id));
  out.push((await runs.listRuns('wf', 10)).map((r) => r.workflow_execution_id));
  out.push(await runs.listRuns('other', 10));

  // A run is restarted once: the first restart marks it, a second is refused naming the first.
  const restartOf = (exec: string) =>
    planned(workflow('wf', [sequential(['x.sh'], { enabled: false })]), exec, '2024-01-01T00:00:03.000Z');
  const r6 = restartOf('r6');
  out.push(await runs.createRun(r6.run, r6.jobs, { maxActiveRuns: 1, restartOf: 'r3' }, {}));
  const r7 = restartOf('r7');
  out.push(await runs.createRun(r7.run, r7.jobs, { maxActiveRuns: 1, restartOf: 'r3' }, {}));
  out.push(await runs.createRun(r6.run, r6.jobs, { maxActiveRuns: 1, restartOf: 'r3' }, {}));
  out.push((await runs.getRun('r3'))?.restarted_as);
  return out;
}

/** Every execution the scenario creates or tries to. */
export const SCENARIO_EXECUTIONS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
