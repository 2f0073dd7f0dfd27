import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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
});
