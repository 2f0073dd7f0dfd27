import { DETAIL_TYPES, type DetailType, EVENT_SCHEMAS, type RsqloEvent } from '../../contracts/events.js';
import { EVENT_EXAMPLES } from '../../contracts/examples.js';
import { missedEvent } from '../sla/service.js';
import { BLOG_WORKFLOW } from './fixtures.js';
import { createSimulation } from './in-memory.js';

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
  // Operator actions and pools (issue 14): no service produces them yet, so their contract
  // examples stand in until the services do (then the simulation's own take precedence).
  for (const t of OPERATOR_EVENT_TYPES) {
    if (!out.has(t))
      out.set(t, { detailType: t, detail: EVENT_SCHEMAS[t].parse(EVENT_EXAMPLES[t]) } as RsqloEvent);
  }
  const missing = DETAIL_TYPES.filter((t) => !out.has(t));
  if (missing.length) throw new Error(`sampleEvents: no sample of ${missing.join(', ')}`);
  return out;
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

/** The detail-types of issue 14 that the sample takes from the contract examples when no service emitted one. */
const OPERATOR_EVENT_TYPES = [
  'JobSetOkRequested',
  'JobRerunRequested',
  'JobBypassRequested',
  'HoldRequested',
  'FreeRequested',
  'PoolResizeRequested',
  'JobSetOk',
  'JobRerunStarted',
  'JobBypassed',
  'RunHeld',
  'RunFreed',
  'OperatorActionRejected',
] as const satisfies readonly DetailType[];
