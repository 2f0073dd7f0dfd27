/**
 * Workflow dependencies (`trigger.after`) on the embedded engine: the real trigger service behind
 * the routing table, its SQLite index and state, real scripts. Also under the engine's chaos switch
 * (every delivery duplicated and shuffled): the outcome must not change.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import { LocalEngine } from '../../runtime/local/engine.js';
import type { Logger } from '../../services/ports.js';

const HOUR = 3_600_000;
const quiet: Logger = { info() {}, warn() {}, error() {} };

const wf = (id: string, script: string, extra: Partial<WorkflowDefinition> = {}): WorkflowDefinition => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: [script] }],
  ...extra,
});

describe('trigger.after on the local engine', () => {
  let dir: string | undefined;
  let engine: LocalEngine | undefined;
  afterEach(() => {
    engine?.close();
    engine = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function open(chaos?: { duplicate: boolean; reorder: boolean; seed?: number }): LocalEngine {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-trigger-'));
    const scripts = path.join(dir, 'scripts');
    mkdirSync(scripts);
    for (const [name, body] of [
      ['ok.sh', 'exit 0\n'],
      ['fail.sh', 'echo broken >&2; exit 3\n'],
    ] as const) {
      writeFileSync(path.join(scripts, name), body);
      chmodSync(path.join(scripts, name), 0o755);
    }
    const e = LocalEngine.open({ home: path.join(dir, 'home'), pollMs: HOUR, log: quiet, chaos });
    e.putDefinition(wf('a', 'ok.sh'), scripts);
    e.putDefinition(wf('a_bad', 'fail.sh'), scripts);
    e.putDefinition(wf('b', 'ok.sh'), scripts);
    e.putDefinition(wf('down', 'ok.sh', { trigger: { after: ['a', 'b'] } }), scripts);
    e.putDefinition(wf('down_bad', 'ok.sh', { trigger: { after: ['a_bad', 'b'] } }), scripts);
    engine = e;
    return e;
  }

  const runsOf = async (e: LocalEngine, id: string) => e.store.runs().listRuns(id, 50);

  async function finish(e: LocalEngine, id: string, n: number): Promise<void> {
    const exec = `${id}-run-${n}`;
    e.request({ version: 1, workflow_id: id, workflow_execution_id: exec });
    // Settled, and everything it caused delivered (the trigger's request and any run it starts).
    await e.runUntil(() => e.isSettled(exec) && e.isIdle());
  }

  for (const chaos of [undefined, { duplicate: true, reorder: true, seed: 7 }]) {
    const label = chaos ? ' (chaos: duplicated and shuffled deliveries)' : '';
    it(`a then b starts one run; a twice and b once starts one run${label}`, async () => {
      const e = open(chaos);
      await finish(e, 'a', 1);
      expect(await runsOf(e, 'down')).toEqual([]);
      await finish(e, 'b', 1);
      const first = await runsOf(e, 'down');
      expect(first.map((r) => r.execution_status)).toEqual(['Completed']);
      await finish(e, 'a', 2);
      await finish(e, 'a', 3);
      expect(await runsOf(e, 'down')).toHaveLength(1);
      await finish(e, 'b', 2);
      expect((await runsOf(e, 'down')).map((r) => r.execution_status)).toEqual(['Completed', 'Completed']);
      expect(e.store.deadLetters()).toEqual([]);
    }, 60_000);
  }

  it('a Failed upstream run does not count', async () => {
    const e = open();
    await finish(e, 'a_bad', 1);
    expect(e.getRun('a_bad-run-1')?.execution_status).toBe('Failed');
    await finish(e, 'b', 1);
    expect(await runsOf(e, 'down_bad')).toEqual([]);
    expect(await runsOf(e, 'down')).toEqual([]);
  }, 60_000);
});
