/**
 * SLA lines on the local engine (issue 15), with a fake clock driving the engine's timers while
 * real scripts run: a run past max_duration_seconds emits exactly one SlaMissed even when its timer
 * is duplicated (the chaos switch fires every timer twice, and a replayed timer is planted after
 * the first fired); a run finishing in time emits none; RunLongerThanUsual after 20 Completed runs
 * (seeded through the engine itself), not with 19.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateDefinition, type WorkflowDefinitionInput } from '../../contracts/workflow.js';
import type { EventEnvelope } from '../../events/envelope.js';
import { LocalEngine } from '../../runtime/local/engine.js';
import { armStartBy, slaTimerKey } from '../../runtime/local/sla-timers.js';
import type { Logger } from '../../services/ports.js';
import { FakeClock } from '../../services/testing/fake-clock.js';

const quiet: Logger = { info() {}, warn() {}, error() {} };

function setup(chaos = false) {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-sla-'));
  const scripts = path.join(dir, 'scripts');
  mkdirSync(scripts);
  const gate = path.join(dir, 'gate');
  // Waits (in real time) until the test opens the gate: the run stays Running meanwhile.
  writeFileSync(path.join(scripts, 'wait.sh'), `while [ ! -e '${gate}' ]; do sleep 0.05; done\necho done\n`);
  writeFileSync(path.join(scripts, 'ok.sh'), 'echo ok\n');
  chmodSync(path.join(scripts, 'wait.sh'), 0o755);
  chmodSync(path.join(scripts, 'ok.sh'), 0o755);
  const clock = new FakeClock('2026-12-05T22:00:00.000Z');
  const events: EventEnvelope[] = [];
  const alerts: Array<[string, string]> = [];
  const engine = LocalEngine.open({
    home: path.join(dir, 'home'),
    clock,
    log: quiet,
    pollMs: 20,
    onEvent: (e) => events.push(e),
    onAlert: (e, rule) => alerts.push([e['detail-type'], rule]),
    ...(chaos ? { chaos: { duplicate: true, reorder: true, seed: 7 } } : {}),
  });
  // Under the chaos switch duplicates are delayed by a few ms of engine time: let fake time move.
  const until = async (done: () => boolean) => {
    const tick = chaos
      ? setInterval(() => {
          clock.advance(20);
          engine.wake();
        }, 5)
      : undefined;
    try {
      await engine.runUntil(done);
    } finally {
      clearInterval(tick);
    }
  };
  return { dir, scripts, gate, clock, events, alerts, engine, until };
}

const def = (id: string, script: string, sla?: WorkflowDefinitionInput['sla']): WorkflowDefinitionInput => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: [script] }],
  ...(sla ? { sla } : {}),
});

const of = (events: EventEnvelope[], type: string, exec?: string) =>
  events.filter(
    (e) =>
      e['detail-type'] === type &&
      (exec === undefined || (e.detail as { workflow_execution_id?: string }).workflow_execution_id === exec),
  );

describe('SLA lines on the local engine', () => {
  let env: ReturnType<typeof setup> | undefined;
  afterEach(() => {
    if (env) {
      writeFileSync(env.gate, '');
      env.engine.close();
      rmSync(env.dir, { recursive: true, force: true });
    }
    env = undefined;
  });

  it.each([false, true])(
    'a run past max_duration_seconds emits exactly one SlaMissed, even with duplicated timers (chaos %s)',
    async (chaos) => {
      env = setup(chaos);
      const { engine, clock, events, alerts, scripts, until } = env;
      engine.putDefinition(
        def('nightly', 'wait.sh', {
          max_duration_seconds: 3600,
          finish_by: '06:00',
          timezone: 'Europe/Berlin',
        }) as never,
        scripts,
      );
      engine.request({ version: 1, workflow_id: 'nightly', workflow_execution_id: 'n-1' });
      await until(() => of(events, 'JobStarted', 'n-1').length > 0);
      expect(engine.store.dueTimers(100).length).toBe(0);
      const started = engine.getRun('n-1')?.execution_start_ts as string;
      const lineAt = new Date(Math.ceil((Date.parse(started) + 3_600_000) / 1000) * 1000)
        .toISOString()
        .replace('.000Z', 'Z');
      // An hour and a second later: max_duration crossed, finish_by (06:00 CET = 05:00 UTC) not yet.
      clock.advance(3_601_000);
      engine.wake();
      await until(() => of(events, 'SlaMissed', 'n-1').length > 0);
      // The same timer again (a replay), fired under the same clock: nothing more.
      const line = engine.store.db.prepare('SELECT body FROM runs WHERE id = ?').get('n-1') as {
        body: string;
      };
      expect(JSON.parse(line.body)).toMatchObject({
        sla_missed_max_duration: expect.any(String),
        sla_sent_max_duration: true,
      });
      engine.store.tx(() =>
        engine.store.setTimer(slaTimerKey('n-1', 'max_duration'), clock.millis - 1, {
          workflow_id: 'nightly',
          workflow_execution_id: 'n-1',
          kind: 'max_duration',
          line_at: lineAt,
          line: '3600 s',
          started_at: started,
        }),
      );
      engine.wake();
      await until(() => engine.store.dueTimers(100).length === 0 && engine.store.outboxSize() === 0);
      const missed = of(events, 'SlaMissed', 'n-1');
      expect(missed).toHaveLength(1);
      expect(missed[0]?.detail).toMatchObject({
        event_id: 'SlaMissed:n-1:max_duration',
        kind: 'max_duration',
        line_at: lineAt,
        line: '3600 s',
        started_at: started,
      });
      expect(alerts).toEqual([['SlaMissed', 'alert-sla-missed']]);
      // Past finish_by (06:00 Berlin) while still running: its own SlaMissed, once.
      clock.set(Date.parse('2026-12-06T05:00:00Z'));
      engine.wake();
      await until(() => of(events, 'SlaMissed', 'n-1').length === 2);
      expect(of(events, 'SlaMissed', 'n-1').map((e) => (e.detail as { kind: string }).kind)).toEqual([
        'max_duration',
        'finish_by',
      ]);
      writeFileSync(env.gate, '');
      await until(() => engine.isSettled('n-1'));
      expect(engine.getRun('n-1')?.execution_status).toBe('Completed');
      expect(of(events, 'SlaMissed')).toHaveLength(2);
    },
    60_000,
  );

  it('a run finishing in time emits none, and its timers end quietly when they come due', async () => {
    env = setup();
    const { engine, clock, events, scripts } = env;
    engine.putDefinition(
      def('quick', 'ok.sh', { max_duration_seconds: 60, finish_by: '23:30' }) as never,
      scripts,
    );
    engine.request({ version: 1, workflow_id: 'quick', workflow_execution_id: 'q-1' });
    await engine.runUntil(() => engine.isSettled('q-1'));
    expect(engine.getRun('q-1')?.execution_status).toBe('Completed');
    expect(engine.store.db.prepare("SELECT COUNT(*) AS n FROM timers WHERE key LIKE 'sla:%'").get()).toEqual({
      n: 2,
    });
    clock.advance(2 * 3_600_000);
    engine.wake();
    await engine.runUntil(() => engine.store.dueTimers(100).length === 0);
    expect(engine.store.db.prepare("SELECT COUNT(*) AS n FROM timers WHERE key LIKE 'sla:%'").get()).toEqual({
      n: 0,
    });
    expect(of(events, 'SlaMissed')).toEqual([]);
  }, 30_000);

  it('RunLongerThanUsual after 20 Completed runs, not with 19; once', async () => {
    env = setup();
    const { engine, clock, events, scripts, gate } = env;
    engine.putDefinition(def('usual', 'wait.sh') as never, scripts);
    // History through the engine itself: each run takes 10 minutes of fake time. The gate opens
    // only after the clock moved, so no run can end at the fake instant it started (a fast job
    // used to finish before the advance, giving 0-second runs and a 0-second threshold).
    const runOnce = async (exec: string, minutes: number) => {
      rmSync(gate, { force: true });
      engine.request({ version: 1, workflow_id: 'usual', workflow_execution_id: exec });
      await engine.runUntil(() => of(events, 'JobStarted', exec).length > 0);
      clock.advance(minutes * 60_000);
      writeFileSync(gate, '');
      engine.wake();
      await engine.runUntil(() => engine.isSettled(exec));
    };
    for (let i = 0; i < 19; i++) await runOnce(`u-${i}`, 10);
    // The 20th run: 19 Completed before it, so no line is armed for it.
    rmSync(gate);
    engine.request({ version: 1, workflow_id: 'usual', workflow_execution_id: 'u-19' });
    await engine.runUntil(() => of(events, 'JobStarted', 'u-19').length > 0);
    expect(engine.store.db.prepare("SELECT COUNT(*) AS n FROM timers WHERE key LIKE 'sla:%'").get()).toEqual({
      n: 0,
    });
    clock.advance(60 * 60_000);
    engine.wake();
    writeFileSync(gate, '');
    await engine.runUntil(() => engine.isSettled('u-19'));
    expect(of(events, 'RunLongerThanUsual')).toEqual([]);
    // 20 Completed now (p90 = 10 min: threshold 15 min); the 21st runs 16 minutes.
    rmSync(gate);
    engine.request({ version: 1, workflow_id: 'usual', workflow_execution_id: 'u-20' });
    await engine.runUntil(() => of(events, 'JobStarted', 'u-20').length > 0);
    clock.advance(14 * 60_000);
    engine.wake();
    await engine.runUntil(() => engine.store.outboxSize() === 0 && engine.store.dueTimers(10).length === 0);
    expect(of(events, 'RunLongerThanUsual')).toEqual([]);
    clock.advance(2 * 60_000);
    engine.wake();
    await engine.runUntil(() => of(events, 'RunLongerThanUsual').length > 0);
    writeFileSync(gate, '');
    await engine.runUntil(() => engine.isSettled('u-20'));
    const usual = of(events, 'RunLongerThanUsual');
    expect(usual).toHaveLength(1);
    expect(usual[0]?.detail).toMatchObject({
      event_id: 'RunLongerThanUsual:u-20',
      workflow_execution_id: 'u-20',
      p90_seconds: 600,
      threshold_seconds: 900,
      history_runs: 20,
    });
    expect(existsSync(gate)).toBe(true);
  }, 120_000);

  it('start_by: a scheduled firing whose run never started emits SlaMissed once; one that started, none', async () => {
    env = setup();
    const { engine, clock, events, scripts } = env;
    const definition = {
      ...def('gated', 'wait.sh', { start_by: '02:30', timezone: 'Europe/Berlin' }),
      max_active_runs: 1,
    };
    engine.putDefinition(definition as never, scripts);
    const parsed = validateDefinition(definition);
    if (!parsed.ok) throw new Error('invalid test definition');
    // g-1 runs (and holds the only slot); the firing at 01:00 Berlin (00:00 UTC) asks for g-2,
    // which is refused (max_active_runs), so it never starts.
    engine.request({ version: 1, workflow_id: 'gated', workflow_execution_id: 'g-1' });
    await engine.runUntil(() => of(events, 'JobStarted', 'g-1').length > 0);
    clock.set(Date.parse('2026-12-06T00:00:00Z'));
    engine.request({ version: 1, workflow_id: 'gated', workflow_execution_id: 'g-2' });
    const at = new Date(clock.millis);
    expect(armStartBy(engine.store, parsed.definition, 'g-2', at)).toBe(true);
    expect(armStartBy(engine.store, parsed.definition, 'g-1', at)).toBe(true);
    await engine.runUntil(() => of(events, 'WorkflowRejected').length > 0);
    // 02:29 Berlin: not yet.
    clock.set(Date.parse('2026-12-06T01:29:00Z'));
    engine.wake();
    await engine.runUntil(() => engine.store.outboxSize() === 0);
    expect(of(events, 'SlaMissed')).toEqual([]);
    // 02:30 Berlin (01:30 UTC): g-2 missed it; g-1 (started) did not. A replayed timer adds nothing.
    clock.set(Date.parse('2026-12-06T01:30:00Z'));
    engine.wake();
    await engine.runUntil(
      () => engine.store.dueTimers(10).length === 0 && of(events, 'SlaMissed').length > 0,
    );
    expect(armStartBy(engine.store, parsed.definition, 'g-2', at)).toBe(true);
    engine.wake();
    await engine.runUntil(() => engine.store.dueTimers(10).length === 0 && engine.store.outboxSize() === 0);
    const missed = of(events, 'SlaMissed');
    expect(missed).toHaveLength(1);
    expect(missed[0]?.detail).toMatchObject({
      event_id: 'SlaMissed:g-2:start_by',
      workflow_execution_id: 'g-2',
      kind: 'start_by',
      line_at: '2026-12-06T01:30:00Z',
      line: '02:30 Europe/Berlin',
      started_at: null,
    });
  }, 60_000);

  it('armed lines survive the engine stopping: the next engine on the home fires them; a bad timer is dropped', async () => {
    env = setup();
    const { engine, clock, scripts, dir } = env;
    engine.putDefinition(def('durable', 'wait.sh', { max_duration_seconds: 600 }) as never, scripts);
    engine.request({ version: 1, workflow_id: 'durable', workflow_execution_id: 'd-1' });
    await engine.runUntil(() => of(env?.events ?? [], 'JobStarted', 'd-1').length > 0);
    // A timer row nobody could have written: dropped with an error line, never retried.
    engine.store.tx(() => engine.store.setTimer(slaTimerKey('d-x', 'max_duration'), 0, 'not a line'));
    engine.close();
    // The next engine on the same home (the job's process goes on and is adopted).
    const events: EventEnvelope[] = [];
    const errors: string[] = [];
    const next = LocalEngine.open({
      home: path.join(dir, 'home'),
      clock,
      pollMs: 20,
      log: { info() {}, warn() {}, error: (m) => void errors.push(m) },
      onEvent: (e) => events.push(e),
    });
    env.engine = next;
    await next.runUntil(() => next.store.dueTimers(10).length === 0);
    expect(errors).toEqual(['dropped a malformed SLA timer']);
    clock.advance(601_000);
    next.wake();
    await next.runUntil(() => of(events, 'SlaMissed', 'd-1').length > 0);
    expect(of(events, 'SlaMissed', 'd-1')[0]?.detail).toMatchObject({ kind: 'max_duration', line: '600 s' });
    writeFileSync(env.gate, '');
    await next.runUntil(() => next.isSettled('d-1'));
    expect(next.getRun('d-1')?.execution_status).toBe('Completed');
  }, 60_000);
});
