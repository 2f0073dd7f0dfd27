import { DETAIL_TYPES, type DetailType, type RsqloEvent } from '../../contracts/events.js';
import { missedEvent } from '../sla/service.js';
import { BLOG_WORKFLOW } from './fixtures.js';
import { createSimulation, type Simulation } from './in-memory.js';

/**
 * One valid event of every detail-type, as the services really produce them (a simulated run of the
 * blog workflow, a request for an unknown workflow) plus the two requests users send. For tests
 * that must get past contract validation to test something else (routing, dispatch, entries).
 */
export async function sampleEvents(): Promise<Map<DetailType, RsqloEvent>> {
  const sim = createSimulation({ definitions: [BLOG_WORKFLOW] });
  const exec = sim.request({ workflow_id: BLOG_WORKFLOW.workflow_id });
  sim.request({ workflow_id: 'no_such_workflow' });
  await sim.runUntilIdle();
  // Pools (issue 14): a run in a pool created for it (PoolCreated, PoolSlotFreed), then a resize.
  sim.define(POOLED_WORKFLOW);
  sim.request({ workflow_id: POOLED_WORKFLOW.workflow_id });
  await sim.runUntilIdle();
  sim.publish([{ detailType: 'PoolResizeRequested', detail: POOL_RESIZE }]);
  await sim.runUntilIdle();
  const out = new Map<DetailType, RsqloEvent>();
  for (const p of sim.published) if (!out.has(p.event.detailType)) out.set(p.event.detailType, p.event);
  out.set('WorkflowRequested', {
    detailType: 'WorkflowRequested',
    detail: { version: 1, workflow_id: BLOG_WORKFLOW.workflow_id },
  });
  out.set('WorkflowCancelRequested', {
    detailType: 'WorkflowCancelRequested',
    detail: { version: 1, workflow_id: BLOG_WORKFLOW.workflow_id, workflow_execution_id: exec },
  });
  // The SLA check's events (services/sla), for a line of the same run.
  const line = {
    workflow_id: BLOG_WORKFLOW.workflow_id,
    workflow_execution_id: exec,
    line_at: '2024-01-01T01:00:00Z',
    started_at: '2024-01-01T00:00:00.000Z',
  };
  out.set(
    'SlaMissed',
    missedEvent({ ...line, kind: 'max_duration', line: '3600 s' }, '2024-01-01T01:00:00.100Z'),
  );
  out.set(
    'RunLongerThanUsual',
    missedEvent(
      { ...line, kind: 'longer_than_usual', line: '1.5 x p90', p90_seconds: 2400 },
      '2024-01-01T01:00:00.100Z',
    ),
  );
  // Operator actions (issue 14), as the starter answers them: a run of the blog workflow fails,
  // a skipped job is bypassed, the failed one set OK (the run goes on), one job rerun; a workflow
  // held and freed; a hold of an ended run refused.
  for (const p of (await operatorSamples()).published)
    if (!out.has(p.event.detailType)) out.set(p.event.detailType, p.event);
  const missing = DETAIL_TYPES.filter((t) => !out.has(t));
  if (missing.length) throw new Error(`sampleEvents: no sample of ${missing.join(', ')}`);
  return out;
}

/** The operator actions of the samples, played on a simulation of the blog workflow. */
async function operatorSamples(): Promise<Simulation> {
  const sim = createSimulation({ definitions: [BLOG_WORKFLOW] });
  const wf = BLOG_WORKFLOW.workflow_id;
  const exec = 'sample-operator-run';
  const who = { requested_by: 'user:sample', workflow_id: wf };
  sim.script({ job: 'rsql_blog_script_1.sh', attempt: 1 }, { outcome: 'fail', message: 'sample failure' });
  sim.request({ workflow_id: wf, workflow_execution_id: exec });
  await sim.runUntilIdle();
  const job = { ...who, workflow_execution_id: exec, attempt: 1 };
  sim.publish([
    { detailType: 'JobBypassRequested', detail: { version: 1, ...job, job_key: '2.2', reason: 'sample' } },
  ]);
  await sim.runUntilIdle();
  sim.publish([
    { detailType: 'JobSetOkRequested', detail: { version: 1, ...job, job_key: '1.1', reason: 'sample' } },
  ]);
  await sim.runUntilIdle();
  sim.publish([{ detailType: 'JobRerunRequested', detail: { version: 1, ...job, job_key: '1.2' } }]);
  await sim.runUntilIdle();
  const at = sim.clock.now().toISOString();
  // Holds and frees are ordered by their time: the free comes after the hold.
  const later = new Date(sim.clock.now().getTime() + 1).toISOString();
  sim.publish([
    { detailType: 'HoldRequested', detail: { version: 1, ...who, occurred_at: at, event_id: 'sample-hold' } },
    {
      detailType: 'FreeRequested',
      detail: { version: 1, ...who, occurred_at: later, event_id: 'sample-free' },
    },
    {
      detailType: 'HoldRequested',
      detail: { version: 1, ...who, workflow_execution_id: exec, occurred_at: at, event_id: 'sample-late' },
    },
  ]);
  await sim.runUntilIdle();
  return sim;
}
/** A workflow whose one job takes a slot of pool `wlm` (2 slots). */
const POOLED_WORKFLOW = {
  workflow_id: 'pooled_sample',
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', pool: 'wlm', scripts: ['p.sh'] }],
  pools: { wlm: 2 },
};

/** `rsqlo pool set wlm 0` as the CLI publishes it (also the PoolResizeRequested sample). */
const POOL_RESIZE = {
  version: 1,
  event_id: 'PoolResizeRequested:sample',
  occurred_at: '2024-05-01T00:45:00.000Z',
  requested_by: 'user:oncall',
  pool: 'wlm',
  slots: 0,
  reason: 'drain before the WLM change',
};
