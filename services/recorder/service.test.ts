import { describe, expect, it, vi } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import type { JobFinished, JobStarted } from '../../contracts/events.js';
import { sequential, workflow } from '../testing/fixtures.js';
import { createSimulation, type Simulation } from '../testing/in-memory.js';
import { createRecorderService, MAX_ERROR_MESSAGE } from './service.js';

const WF = workflow('wf', [sequential(['a.sh', 'b.sh'])], { defaults: { retries: 1 } });

/** A run whose job 1.1 was queued and dispatched (nothing delivered). */
async function dispatchedRun(): Promise<Simulation> {
  const sim = createSimulation({ definitions: [WF] });
  await sim.services.starter.handleRequested(
    { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
    'e1',
  );
  const jobs = sim.store.jobs();
  await sim.store.runs().claimJobs(
    {
      workflowExecutionId: 'r1',
      stage: 1,
      expectedCursor: 0,
      newCursor: 1,
      jobs: [{ jobKey: '1.1', attempt: 1 }],
      at: '2024-01-01T00:00:00.000Z',
    },
    {},
  );
  await jobs.transition({
    workflowExecutionId: 'r1',
    jobKey: '1.1',
    expect: { attempt: 1, statuses: ['Queued'] },
    set: { execution_status: 'Dispatched' },
  });
  return sim;
}

const base = (attempt = 1) => ({
  version: 1,
  occurred_at: '2024-01-01T00:00:01.000Z',
  workflow_id: 'wf',
  workflow_execution_id: 'r1',
  job_key: '1.1',
  job_name: 'a.sh',
  stage: 1,
  attempt,
});

function started(attempt = 1): JobStarted {
  return {
    ...base(attempt),
    event_id: `JobStarted:r1:1.1:a${attempt}`,
    started_at: '2024-01-01T00:00:01.000Z',
    instance_id: 'i-1',
    ssm_command_id: 'cmd-1',
    log_location: '/ops/rsql-logs/r1/1.1',
  };
}

function finished(over: Partial<JobFinished> = {}, attempt = 1): JobFinished {
  return {
    ...base(attempt),
    event_id: `JobFinished:r1:1.1:a${attempt}`,
    status: 'Completed',
    exit_code: 0,
    error_message: null,
    started_at: '2024-01-01T00:00:01.000Z',
    finished_at: '2024-01-01T00:00:09.000Z',
    duration_ms: 8000,
    instance_id: 'i-1',
    ssm_command_id: 'cmd-1',
    log_location: '/ops/rsql-logs/r1/1.1',
    reported_by: 'agent',
    ...over,
  };
}

function row(sim: Simulation): JobAuditRecord {
  const j = sim.job('r1', '1.1');
  if (!j) throw new Error('no job');
  return j;
}

describe('recorder', () => {
  it('records the start and then the end of an attempt', async () => {
    const sim = await dispatchedRun();
    const r = sim.services.recorder;
    expect((await r.handleJobStarted(started())).applied).toBe(true);
    expect(row(sim)).toMatchObject({
      execution_status: 'Running',
      execution_start_ts: '2024-01-01T00:00:01.000Z',
      instance_id: 'i-1',
      ssm_command_id: 'cmd-1',
      log_location: '/ops/rsql-logs/r1/1.1',
    });
    expect((await r.handleJobFinished(finished())).applied).toBe(true);
    expect(row(sim)).toMatchObject({
      execution_status: 'Completed',
      exit_code: 0,
      execution_end_ts: '2024-01-01T00:00:09.000Z',
    });
  });

  it('gives the same row whichever of JobStarted and JobFinished arrives first', async () => {
    const inOrder = await dispatchedRun();
    await inOrder.services.recorder.handleJobStarted(started());
    await inOrder.services.recorder.handleJobFinished(
      finished({ status: 'Failed', exit_code: 4, error_message: 'x' }),
    );
    const reversed = await dispatchedRun();
    await reversed.services.recorder.handleJobFinished(
      finished({ status: 'Failed', exit_code: 4, error_message: 'x' }),
    );
    expect((await reversed.services.recorder.handleJobStarted(started())).applied).toBe(false);
    expect(row(reversed)).toEqual(row(inOrder));
    expect(row(inOrder).execution_status).toBe('Failed');
  });

  it('ignores duplicates, and a later report of an attempt that already ended (first report wins)', async () => {
    const sim = await dispatchedRun();
    const r = sim.services.recorder;
    await r.handleJobStarted(started());
    await r.handleJobFinished(finished());
    const after = row(sim);
    expect((await r.handleJobStarted(started())).applied).toBe(false);
    expect((await r.handleJobFinished(finished())).applied).toBe(false);
    // The wrapper's timeout lands after the agent's success: still Completed.
    const late = finished({
      status: 'TimedOut',
      exit_code: null,
      reported_by: 'wrapper',
      error_message: 'timed out',
    });
    expect((await r.handleJobFinished(late)).applied).toBe(false);
    expect(row(sim)).toEqual(after);
  });

  it('ignores reports for an attempt the job has left behind', async () => {
    const sim = await dispatchedRun();
    // Attempt 1 failed and the job went back to Pending as attempt 2.
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Dispatched'] },
      set: { execution_status: 'Failed' },
    });
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Failed'] },
      set: { execution_status: 'Pending', attempt: 2 },
    });
    const before = row(sim);
    expect((await sim.services.recorder.handleJobStarted(started(1))).applied).toBe(false);
    expect((await sim.services.recorder.handleJobFinished(finished({}, 1))).applied).toBe(false);
    expect((await sim.services.recorder.handleJobFinished(finished({}, 3))).applied).toBe(false);
    expect(row(sim)).toEqual(before);
  });

  it('keeps the command id the dispatcher recorded when the agent cannot tell it', async () => {
    const sim = await dispatchedRun();
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Dispatched'] },
      set: { instance_id: 'i-1', ssm_command_id: 'cmd-from-dispatcher' },
    });
    await sim.services.recorder.handleJobStarted({ ...started(), ssm_command_id: null });
    expect(row(sim)).toMatchObject({ execution_status: 'Running', ssm_command_id: 'cmd-from-dispatcher' });
  });

  it('reads the row for a report only when the report lacks what JobStarted said', async () => {
    const sim = await dispatchedRun();
    const jobs = sim.store.jobs();
    const getJob = vi.spyOn(jobs, 'getJob');
    const recorder = createRecorderService({ jobs, log: { info() {}, warn() {}, error() {} } });
    await recorder.handleJobStarted(started());
    // The agent's report carries start, host, command and log: one conditional write, no read.
    expect((await recorder.handleJobFinished(finished())).applied).toBe(true);
    expect(getJob).not.toHaveBeenCalled();
    expect(row(sim)).toMatchObject({
      execution_status: 'Completed',
      ssm_command_id: 'cmd-1',
      instance_id: 'i-1',
    });
    // A report without them (the wrapper's) reads the row to keep them.
    const sim2 = await dispatchedRun();
    const jobs2 = sim2.store.jobs();
    const getJob2 = vi.spyOn(jobs2, 'getJob');
    const recorder2 = createRecorderService({ jobs: jobs2, log: { info() {}, warn() {}, error() {} } });
    await recorder2.handleJobStarted(started());
    await recorder2.handleJobFinished(
      finished({ status: 'TimedOut', exit_code: null, reported_by: 'wrapper', instance_id: null }),
    );
    expect(getJob2).toHaveBeenCalledTimes(1);
    expect(sim2.job('r1', '1.1')).toMatchObject({ execution_status: 'TimedOut', instance_id: 'i-1' });
  });

  it('keeps the end of a long error message', async () => {
    const sim = await dispatchedRun();
    const long = `${'x'.repeat(MAX_ERROR_MESSAGE)}THE END`;
    await sim.services.recorder.handleJobFinished(
      finished({ status: 'Failed', exit_code: 1, error_message: long }),
    );
    const msg = row(sim).error_message ?? '';
    expect(msg).toHaveLength(MAX_ERROR_MESSAGE);
    expect(msg.endsWith('THE END')).toBe(true);
  });

  it('keeps what JobStarted said when the wrapper reports a timeout without it', async () => {
    const sim = await dispatchedRun();
    await sim.services.recorder.handleJobStarted(started());
    await sim.services.recorder.handleJobFinished(
      finished({
        status: 'TimedOut',
        exit_code: null,
        error_message: 'timed out',
        reported_by: 'wrapper',
        started_at: null,
        instance_id: null,
        ssm_command_id: null,
        log_location: null,
      }),
    );
    expect(row(sim)).toMatchObject({
      execution_status: 'TimedOut',
      execution_start_ts: '2024-01-01T00:00:01.000Z',
      instance_id: 'i-1',
      ssm_command_id: 'cmd-1',
      log_location: '/ops/rsql-logs/r1/1.1',
    });
  });

  it('gives the same final rows whatever the order of start and finish reports in a full run', async () => {
    const run = async (seed: number | null) => {
      const sim = createSimulation({
        definitions: [WF],
        ...(seed === null ? {} : { chaos: { shuffle: true, duplicate: true, seed } }),
      });
      sim.script({ job: 'b.sh', attempt: 1 }, { outcome: 'fail', exitCode: 7, message: 'retry me' });
      sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
      expect(sim.problems()).toEqual([]);
      return sim.jobs('r1');
    };
    const clean = await run(null);
    expect(clean.map((j) => [j.execution_status, j.attempt])).toEqual([
      ['Completed', 1],
      ['Completed', 2],
    ]);
    // Timestamps included: every report carries them, so order cannot change them.
    for (let seed = 1; seed <= 8; seed++) expect(await run(seed)).toEqual(clean);
  });
});
