/**
 * LocalEngine.operator (a request into the outbox, checked first) and LocalEngine.isWaiting (the
 * line the CLI says once instead of calling a held or pool-waiting run stuck).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContractError } from '../../contracts/common.js';
import type { Logger } from '../../services/ports.js';
import { LocalEngine } from './engine.js';

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

describe('LocalEngine operator requests', () => {
  let dir: string | undefined;
  let engine: LocalEngine | undefined;
  afterEach(() => {
    engine?.close();
    engine = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('puts a valid request into the outbox and refuses an invalid one, writing nothing', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-engine-op-'));
    engine = LocalEngine.open({ home: path.join(dir, 'home'), pollMs: 3_600_000, log: quiet });
    const e = engine;
    const committed: string[] = [];
    e.store.onCommittedEvent((ev) => committed.push(`${ev['detail-type']} ${JSON.stringify(ev.detail)}`));
    expect(() =>
      e.operator({
        detailType: 'PoolResizeRequested',
        detail: {
          version: 1,
          occurred_at: '2026-01-01T00:00:00.000Z',
          requested_by: 'user:alice',
          pool: 'wlm',
          slots: 1001,
        },
      }),
    ).toThrow(ContractError);
    expect(() =>
      e.operator({
        detailType: 'JobSetOkRequested',
        // no reason: set OK needs one
        detail: {
          version: 1,
          requested_by: 'user:alice',
          workflow_id: 'wf',
          workflow_execution_id: 'wf-1',
          job_key: '1.1',
          attempt: 1,
        } as never,
      }),
    ).toThrow(/reason/);
    expect(committed).toEqual([]);
    e.operator({
      detailType: 'PoolResizeRequested',
      detail: {
        version: 1,
        event_id: 'PoolResizeRequested:01J000000000000000000000AA',
        occurred_at: '2026-01-01T00:00:00.000Z',
        requested_by: 'user:alice',
        pool: 'wlm',
        slots: 0,
      },
    });
    // Committed as published (the outbox holds a row per service its routes name).
    expect(committed).toEqual([
      'PoolResizeRequested {"version":1,"event_id":"PoolResizeRequested:01J000000000000000000000AA","occurred_at":"2026-01-01T00:00:00.000Z","requested_by":"user:alice","pool":"wlm","slots":0}',
    ]);
  });

  it('says why a held run, or one whose job waits for a pool, waits; null for a run that does not', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-engine-op-'));
    const scripts = path.join(dir, 'scripts');
    mkdirSync(scripts);
    const gate = path.join(dir, 'gate');
    const started = path.join(dir, 'started');
    writeFileSync(
      path.join(scripts, 'wait.sh'),
      `touch ${started}\nfor i in $(seq 1200); do [ -e ${gate} ] && exit 0; sleep 0.05; done; exit 9\n`,
    );
    writeFileSync(path.join(scripts, 'ok.sh'), 'echo ok\n');
    chmodSync(path.join(scripts, 'wait.sh'), 0o755);
    chmodSync(path.join(scripts, 'ok.sh'), 0o755);
    engine = LocalEngine.open({ home: path.join(dir, 'home'), pollMs: 50, log: quiet });
    const e = engine;
    e.putDefinition(
      {
        workflow_id: 'wf_wait',
        workflow_stages: [
          { execution_flag: 'y', execution_type: 'sequential', scripts: ['wait.sh', 'ok.sh'] },
        ],
      },
      scripts,
    );
    e.request({ version: 1, workflow_id: 'wf_wait', workflow_execution_id: 'wait-1' });
    await e.runUntil(() => existsSync(started));
    expect(e.isWaiting('wait-1')).toBeNull();
    expect(e.isWaiting('no-such-run')).toBeNull();

    const hold = {
      held: true,
      scope: 'run',
      reason: 'redshift patching',
      requested_by: 'user:alice',
      requested_at: '2026-01-01T00:00:00.000Z',
      request_id: 'HoldRequested:1',
    };
    const setRun = (sql: string, ...args: unknown[]) =>
      e.store.db.prepare(`UPDATE runs SET body = ${sql} WHERE id = 'wait-1'`).run(...args);
    setRun("json_set(body, '$.hold_state', json(?))", JSON.stringify(hold));
    expect(e.isWaiting('wait-1')).toBe('held by user:alice (redshift patching): rsqlo free wait-1');
    setRun(
      "json_set(body, '$.hold_state', json(?))",
      JSON.stringify({ ...hold, scope: 'workflow', reason: null }),
    );
    expect(e.isWaiting('wait-1')).toBe('held by user:alice: rsqlo free wf_wait');

    setRun("json_set(body, '$.hold_state', json(?))", JSON.stringify({ ...hold, held: false }));
    e.store.db
      .prepare(
        `UPDATE jobs SET status = 'Queued', body = json_set(body, '$.execution_status', 'Queued', '$.waiting_for', 'pool:wlm') WHERE exec = 'wait-1' AND job_no = 2`,
      )
      .run();
    expect(e.isWaiting('wait-1')).toMatch(/^waiting for pool wlm \(/);

    // Put back as it was, and let it finish.
    e.store.db
      .prepare(
        `UPDATE jobs SET status = 'Pending', body = json_set(json_remove(body, '$.waiting_for'), '$.execution_status', 'Pending') WHERE exec = 'wait-1' AND job_no = 2`,
      )
      .run();
    writeFileSync(gate, '');
    await e.runUntil(() => e.isSettled('wait-1'));
    expect(e.isWaiting('wait-1')).toBeNull();
  }, 60_000);
});
