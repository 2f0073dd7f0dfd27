import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toEnvelope } from '../../events/envelope.js';
import type { Logger } from '../../services/ports.js';
import { LocalEngine } from './engine.js';

const HOUR = 3_600_000;

describe('LocalEngine loop', () => {
  let dir: string | undefined;
  let engine: LocalEngine | undefined;
  afterEach(() => {
    engine?.close();
    engine = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is driven by wake-ups, not polling: with an hour-long poll a run still finishes, and no delivery fails on the way', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-engine-'));
    const scripts = path.join(dir, 'scripts');
    mkdirSync(scripts);
    const script = path.join(scripts, 'ok.sh');
    writeFileSync(script, 'echo ok\n');
    chmodSync(script, 0o755);
    const warnings: string[] = [];
    const log: Logger = {
      info: () => {},
      warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`),
      error: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`),
    };
    // A wake-up lost while a pass was running (or queued behind a job's report) would leave the
    // loop asleep for the whole poll interval: an hour here, far past the test's timeout.
    engine = LocalEngine.open({ home: path.join(dir, 'home'), pollMs: HOUR, log });
    engine.putDefinition(
      {
        workflow_id: 'wake_test',
        workflow_stages: [
          {
            execution_flag: 'y',
            execution_type: 'sequential',
            scripts: ['ok.sh', 'ok.sh', 'ok.sh', 'ok.sh'],
          },
          { execution_flag: 'y', execution_type: 'parallel', scripts: ['ok.sh', 'ok.sh', 'ok.sh'] },
          { execution_flag: 'y', execution_type: 'sequential', scripts: ['ok.sh'] },
        ],
      },
      scripts,
    );
    for (const exec of ['wake-1', 'wake-2']) {
      const e = engine;
      e.request({ version: 1, workflow_id: 'wake_test', workflow_execution_id: exec });
      await e.runUntil(() => e.isSettled(exec));
      expect(e.getRun(exec)).toMatchObject({
        execution_status: 'Completed',
        counts: { total: 8, completed: 8 },
      });
    }
    expect(warnings).toEqual([]);
  }, 30_000);

  it('delivers an outbox row to the service its route chose, never by detail-type alone', async () => {
    // The row says recorder; no route sends StageReady there, so the recorder has no method for it.
    // Choosing by detail-type would have run the planner instead (a second subscriber re-running
    // the first one's method).
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-engine-'));
    const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };
    const e = LocalEngine.open({ home: path.join(dir, 'home'), pollMs: HOUR, log: quiet });
    engine = e;
    const env = toEnvelope(
      {
        detailType: 'StageReady',
        detail: {
          version: 1,
          event_id: 'StageReady:exec-1:1:test',
          occurred_at: '2024-01-01T00:00:00.000Z',
          workflow_id: 'wf',
          workflow_execution_id: 'exec-1',
          stage: 1,
        },
      },
      { id: 'evt-1' },
    );
    e.store.enqueueOutbox('recorder', JSON.stringify(env));
    await e.runUntil(() => e.store.outboxSize() === 0);
    expect(e.store.deadLetters().map((d) => [d.source, d.error])).toEqual([
      ['recorder', 'NonRetriableError: no route delivers StageReady to recorder'],
    ]);
  }, 30_000);
});
