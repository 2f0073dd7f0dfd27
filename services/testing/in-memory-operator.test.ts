/**
 * The in-memory OperatorRepository's own edges (the shared port contract suite,
 * services/testing/operator-ports-contract.ts, states the rest for every store).
 */
import { describe, expect, it } from 'vitest';
import { planBypass } from '../shared/operator-plan.js';
import { sequential, workflow } from './fixtures.js';
import { createSimulation } from './in-memory.js';
import { describeOperatorRepositoryContract, inMemoryHarness } from './operator-ports-contract.js';

// The port contract every store keeps (SQLite runs it in runtime/local/operator-store.test.ts).
describeOperatorRepositoryContract('in-memory', inMemoryHarness);

describe('in-memory operator port', () => {
  it('writes a plan once: the same bypass plan again (the run left as read) is a conflict, counted once', async () => {
    const sim = createSimulation({ definitions: [workflow('ops', [sequential(['a.sh', 'b.sh'])])] });
    sim.script('a.sh', { outcome: 'fail' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    const run = sim.store.getRunSync('r1');
    const job = sim.job('r1', '1.2');
    if (!run || !job) throw new Error('no run');
    expect(job.skip_reason).toBe('not started: stage 1 failed');
    const plan = planBypass(
      run,
      job,
      {
        action_id: 'bp-1',
        attempt: 1,
        reason: 'not needed',
        requested_by: 'user:alice',
        requested_at: '2024-01-01T00:00:00.000Z',
      },
      '2024-01-01T00:00:01.000Z',
    );
    if (plan === 'already-applied') throw new Error('planned nothing');
    const op = sim.store.operator();
    expect(await op.applyJobAction(plan, {})).toBe('applied');
    expect(await op.applyJobAction(plan, {})).toBe('conflict');
    expect(sim.store.getRunSync('r1')?.stages[0]?.pre_skipped).toBe(1);
    expect(sim.store.getRunSync('r1')?.operator_action_count).toBe(1);
    expect(sim.problems()).toEqual([]);
  });
});
