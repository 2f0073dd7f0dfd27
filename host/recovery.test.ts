import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processStart } from '../platform/processes.js';
import { EXIT_KEY_ENV } from './job-runner.js';
import {
  CLAIM_WAIT_MS,
  decideRecovery,
  EXIT_STATUS_WAIT_MS,
  type ExitRecord,
  type JobProcess,
  lookAtAttempt,
  RECOVER_POLL_MS,
  type RecoveryDecision,
  type UnknownReason,
  unknownOutcomeMessage,
} from './recovery.js';

/**
 * What the spool / store, the exit journal, the process table and the log folder say about one
 * attempt when an agent looks at it after a crash.
 */
interface World {
  /** The attempt's line in the exit journal. */
  journal?: ExitRecord;
  /** The pid and start token the agent recorded when the job started. */
  recorded?: JobProcess;
  /** The live processes: pid and start token (a reused pid has another token). */
  running?: JobProcess[];
  /** Whether the job's wrapper carries the marker, i.e. the first of `running` is the job's. */
  marked?: boolean;
  /** Whether the attempt's log exists (a runner claimed the attempt). */
  log?: boolean;
  waitedMs?: number;
}

const WRAPPER = { pid: 4242, startTicks: '881234' };

/** Looks at an attempt in `w`, and which facts the decision read, in order. */
function look(w: World): { decision: RecoveryDecision; reads: string[] } {
  const reads: string[] = [];
  const running = w.running ?? [];
  const decision = decideRecovery({
    step: 'look',
    journal: () => {
      reads.push('journal');
      return w.journal;
    },
    recorded: w.recorded ?? null,
    byMarker: () => {
      reads.push('process table');
      return w.marked ? running[0] : undefined;
    },
    logExists: () => {
      reads.push('log');
      return w.log ?? false;
    },
    isAlive: (pid, startTicks) => {
      reads.push(`alive ${pid}`);
      return running.some((p) => p.pid === pid && p.startTicks === startTicks);
    },
    waitedMs: w.waitedMs ?? 0,
  });
  return { decision, reads };
}

describe('decideRecovery: looking at an attempt after a crash', () => {
  const cases: Array<{ situation: string; world: World; decision: RecoveryDecision; reads?: string[] }> = [
    {
      situation: 'job ended while the agent was down: its wrapper recorded exit 0',
      world: { journal: { exitCode: 0 }, recorded: WRAPPER, log: true },
      decision: { kind: 'report-exit', exit: { exitCode: 0 } },
      // a recorded exit settles it: no process table, no log, no liveness
      reads: ['journal'],
    },
    {
      situation: 'job killed by a signal while the agent was down',
      world: { journal: { signal: 'SIGTERM' }, log: true },
      decision: { kind: 'report-exit', exit: { signal: 'SIGTERM' } },
      reads: ['journal'],
    },
    {
      situation: 'exit recorded while its wrapper is still exiting (pid alive a moment longer)',
      world: { journal: { exitCode: 3 }, recorded: WRAPPER, running: [WRAPPER], marked: true, log: true },
      decision: { kind: 'report-exit', exit: { exitCode: 3 } },
      reads: ['journal'],
    },
    {
      situation: 'crash before the claim: command accepted, no pid, no process, no log',
      world: {},
      decision: { kind: 'start', because: 'never-claimed' },
      reads: ['journal', 'process table', 'log'],
    },
    {
      situation: 'host died before the start: claimed (log exists), nothing runs, first look',
      world: { log: true },
      decision: { kind: 'wait-for-claim', afterMs: RECOVER_POLL_MS, waitedMs: RECOVER_POLL_MS },
      reads: ['journal', 'process table', 'log'],
    },
    {
      situation: 'host died before the start: the last look inside the claim wait',
      world: { log: true, waitedMs: CLAIM_WAIT_MS - RECOVER_POLL_MS },
      decision: { kind: 'wait-for-claim', afterMs: RECOVER_POLL_MS, waitedMs: CLAIM_WAIT_MS },
    },
    {
      situation: 'host died before the start: the claim wait is over',
      world: { log: true, waitedMs: CLAIM_WAIT_MS },
      decision: { kind: 'reclaim' },
      reads: ['journal', 'process table', 'log'],
    },
    {
      situation: 'job still running, its pid recorded',
      world: { recorded: WRAPPER, running: [WRAPPER], marked: true, log: true },
      decision: { kind: 'adopt', process: { ...WRAPPER, byMarker: false } },
      // the recorded pid is enough: no scan of the process table, no look at the log
      reads: ['journal', `alive ${WRAPPER.pid}`],
    },
    {
      situation: 'job still running, its pid never recorded (crash before it was written)',
      world: { running: [WRAPPER], marked: true, log: true },
      decision: { kind: 'adopt', process: { ...WRAPPER, byMarker: true } },
      reads: ['journal', 'process table', `alive ${WRAPPER.pid}`],
    },
    {
      situation: 'job still running, found by its marker while the claim wait goes on',
      world: { running: [WRAPPER], marked: true, log: true, waitedMs: 2000 },
      decision: { kind: 'adopt', process: { ...WRAPPER, byMarker: true } },
    },
    {
      situation: 'job ended while the agent was down, its status not written yet',
      world: { recorded: WRAPPER, log: true },
      decision: { kind: 'await-exit', process: { ...WRAPPER, byMarker: false }, unknown: 'gone-while-down' },
      reads: ['journal', `alive ${WRAPPER.pid}`],
    },
    {
      situation: 'machine rebooted: the recorded pid now belongs to another process',
      world: { recorded: WRAPPER, running: [{ pid: WRAPPER.pid, startTicks: '17' }], log: true },
      decision: { kind: 'await-exit', process: { ...WRAPPER, byMarker: false }, unknown: 'gone-while-down' },
    },
  ];
  it.each(cases)('$situation', ({ world, decision, reads }) => {
    const r = look(world);
    expect(r.decision).toEqual(decision);
    if (reads) expect(r.reads).toEqual(reads);
  });

  it('found by its marker but gone by the liveness check: waits for the exit status', () => {
    // the scan saw the wrapper; it ended before isAlive asked
    const d = decideRecovery({
      step: 'look',
      journal: () => undefined,
      recorded: null,
      byMarker: () => WRAPPER,
      logExists: () => true,
      isAlive: () => false,
      waitedMs: 0,
    });
    expect(d).toEqual({
      kind: 'await-exit',
      process: { ...WRAPPER, byMarker: true },
      unknown: 'gone-while-down',
    });
  });
});

describe('decideRecovery: after trying to reclaim an abandoned attempt', () => {
  const cases: Array<{
    situation: string;
    result: 'ran' | 'reclaimed' | 'raced';
    decision: RecoveryDecision;
  }> = [
    {
      situation: 'host died before the fork: the claim was taken back, start it now',
      result: 'reclaimed',
      decision: { kind: 'start', because: 'reclaimed' },
    },
    {
      situation: 'raced reclaim: a wrapper started just as the claim was taken back',
      result: 'raced',
      decision: { kind: 'look-again' },
    },
    {
      situation: 'wrapper killed: it had started (journal), no process, no exit status',
      result: 'ran',
      decision: { kind: 'unknown', reason: 'wrapper-killed' },
    },
  ];
  it.each(cases)('$situation', ({ result, decision }) => {
    expect(decideRecovery({ step: 'reclaimed', result })).toEqual(decision);
  });
});

describe('decideRecovery: waiting for the exit status of a process that ended', () => {
  const cases: Array<{
    situation: string;
    journal?: ExitRecord;
    waitedMs: number;
    unknown: UnknownReason;
    decision: RecoveryDecision;
  }> = [
    {
      situation: 'the wrapper wrote it before the first look',
      journal: { exitCode: 1 },
      waitedMs: 0,
      unknown: 'gone-while-down',
      decision: { kind: 'report-exit', exit: { exitCode: 1 } },
    },
    {
      situation: 'not written yet: look again shortly',
      waitedMs: 0,
      unknown: 'ended-unrecorded',
      decision: {
        kind: 'wait-for-exit',
        afterMs: RECOVER_POLL_MS,
        waitedMs: RECOVER_POLL_MS,
        unknown: 'ended-unrecorded',
      },
    },
    {
      situation: 'written on the very last look',
      journal: { signal: 'SIGKILL' },
      waitedMs: EXIT_STATUS_WAIT_MS,
      unknown: 'ended-unrecorded',
      decision: { kind: 'report-exit', exit: { signal: 'SIGKILL' } },
    },
    {
      situation: 'never written (wrapper SIGKILLed with nobody left to write): outcome unknown',
      waitedMs: EXIT_STATUS_WAIT_MS,
      unknown: 'ended-unrecorded',
      decision: { kind: 'unknown', reason: 'ended-unrecorded' },
    },
    {
      situation: 'the agent stopped and the process left no status: outcome unknown, with that reason',
      waitedMs: EXIT_STATUS_WAIT_MS,
      unknown: 'gone-while-down',
      decision: { kind: 'unknown', reason: 'gone-while-down' },
    },
  ];
  it.each(cases)('$situation', ({ journal, waitedMs, unknown, decision }) => {
    expect(decideRecovery({ step: 'exit-wait', journal, waitedMs, unknown })).toEqual(decision);
  });
});

describe('recovery walked through, as an agent carries it out', () => {
  it('a claimed attempt whose host died before the fork: waits CLAIM_WAIT_MS, reclaims, starts once', () => {
    let waitedMs = 0;
    let looks = 0;
    let d = look({ log: true, waitedMs }).decision;
    while (d.kind === 'wait-for-claim') {
      looks++;
      waitedMs = d.waitedMs;
      d = look({ log: true, waitedMs }).decision;
    }
    expect(looks).toBe(CLAIM_WAIT_MS / RECOVER_POLL_MS);
    expect(d).toEqual({ kind: 'reclaim' });
    expect(decideRecovery({ step: 'reclaimed', result: 'reclaimed' })).toEqual({
      kind: 'start',
      because: 'reclaimed',
    });
  });

  it('a process that ended without a status: reads the journal for EXIT_STATUS_WAIT_MS, then unknown', () => {
    let d = decideRecovery({
      step: 'exit-wait',
      journal: undefined,
      waitedMs: 0,
      unknown: 'gone-while-down',
    });
    let looks = 1;
    while (d.kind === 'wait-for-exit') {
      d = decideRecovery({ step: 'exit-wait', journal: undefined, waitedMs: d.waitedMs, unknown: d.unknown });
      looks++;
    }
    expect(looks).toBe(EXIT_STATUS_WAIT_MS / RECOVER_POLL_MS + 1);
    expect(d).toEqual({ kind: 'unknown', reason: 'gone-while-down' });
  });

  it('a raced reclaim looks again from the start and adopts the wrapper that won', () => {
    expect(decideRecovery({ step: 'reclaimed', result: 'raced' })).toEqual({ kind: 'look-again' });
    expect(look({ running: [WRAPPER], marked: true, log: true }).decision).toEqual({
      kind: 'adopt',
      process: { ...WRAPPER, byMarker: true },
    });
  });
});

describe('unknownOutcomeMessage', () => {
  it('keeps each agent wording (error_message of the job run)', () => {
    expect(unknownOutcomeMessage('wrapper-killed', 'engine')).toBe(
      'the job started and vanished without recording an exit status (its wrapper was killed); outcome unknown',
    );
    expect(unknownOutcomeMessage('wrapper-killed', 'agent')).toBe(
      unknownOutcomeMessage('wrapper-killed', 'engine'),
    );
    expect(unknownOutcomeMessage('gone-while-down', 'engine')).toBe(
      'the engine stopped while this job was running and its process left no exit status; outcome unknown',
    );
    expect(unknownOutcomeMessage('gone-while-down', 'agent')).toBe(
      'the agent stopped while this job ran and its process left no exit status; outcome unknown',
    );
    expect(unknownOutcomeMessage('ended-unrecorded', 'engine')).toBe(
      'the job ended while the engine was stopped and left no exit status',
    );
    expect(unknownOutcomeMessage('ended-unrecorded', 'agent')).toBe(
      'the job ended while the agent was stopped and left no exit status; outcome unknown',
    );
  });
});

describe('lookAtAttempt: the facts as this machine shows them', () => {
  let dir: string | undefined;
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const files = () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-recovery-'));
    return { exitFile: path.join(dir, 'exits'), logFile: path.join(dir, 'job.a1.log') };
  };
  /** A live process carrying the job's marker, as the job's wrapper does. */
  const job = async (logFile: string): Promise<JobProcess> => {
    const c = spawn('sleep', ['30'], { env: { ...process.env, [EXIT_KEY_ENV]: logFile }, stdio: 'ignore' });
    child = c;
    await new Promise((resolve) => c.once('spawn', resolve));
    return { pid: c.pid as number, startTicks: processStart(c.pid as number) };
  };

  it('reads the exit journal line of this attempt (not of another)', () => {
    const f = files();
    writeFileSync(f.logFile, '');
    writeFileSync(f.exitFile, `${f.logFile}.other\t0\n${f.logFile}\tstarted\n${f.logFile}\t3\n`);
    expect(decideRecovery(lookAtAttempt({ ...f, pid: null, startTicks: undefined, waitedMs: 0 }))).toEqual({
      kind: 'report-exit',
      exit: { exitCode: 3 },
    });
  });

  it('starts an attempt that was never claimed (no log), and waits for one that was', () => {
    const f = files();
    expect(decideRecovery(lookAtAttempt({ ...f, pid: null, startTicks: undefined, waitedMs: 0 }))).toEqual({
      kind: 'start',
      because: 'never-claimed',
    });
    writeFileSync(f.logFile, '');
    expect(decideRecovery(lookAtAttempt({ ...f, pid: null, startTicks: undefined, waitedMs: 0 })).kind).toBe(
      'wait-for-claim',
    );
  });

  it('adopts a live recorded process, and not a reused pid', async () => {
    const f = files();
    writeFileSync(f.logFile, '');
    const p = await job(f.logFile);
    expect(decideRecovery(lookAtAttempt({ ...f, ...p, waitedMs: 0 }))).toEqual({
      kind: 'adopt',
      process: { ...p, byMarker: false },
    });
    expect(decideRecovery(lookAtAttempt({ ...f, pid: p.pid, startTicks: '1', waitedMs: 0 })).kind).toBe(
      'await-exit',
    );
  });

  it.runIf(process.platform === 'linux')(
    'finds a job whose pid was never recorded by its marker',
    async () => {
      const f = files();
      writeFileSync(f.logFile, '');
      const p = await job(f.logFile);
      expect(decideRecovery(lookAtAttempt({ ...f, pid: null, startTicks: undefined, waitedMs: 0 }))).toEqual({
        kind: 'adopt',
        process: { pid: p.pid, startTicks: p.startTicks, byMarker: true },
      });
    },
  );
});
