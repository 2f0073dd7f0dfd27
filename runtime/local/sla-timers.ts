/**
 * The local engine's SLA lines (issue 15): each armed line is a row of the engine's timers table
 * (`sla:<execution id>:<kind>`, due at the line's instant), written by the starter in the same
 * transaction as the run; when it comes due the engine's delivery pass hands it to
 * {@link fireSlaTimer}, which runs the SLA check (services/sla/service.ts) and removes the timer,
 * in one unit of work. The check's once-per-run-and-kind guard is a conditional write on the run's
 * row (`sla_missed_<kind>` in its JSON body, set only while the run is Running and unmarked), so a
 * duplicated or replayed timer emits nothing a second time.
 */
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import type { Logger } from '../../services/ports.js';
import { type SlaLine, type SlaLineWatch, startByLine } from '../../services/sla/lines.js';
import {
  createSlaService,
  type SlaCheckResult,
  type SlaMarks,
  slaMarkAttribute,
  slaSentAttribute,
} from '../../services/sla/service.js';
import type { LocalStore } from './store.js';

/** The timer key of a run's line: one per run and kind. */
export function slaTimerKey(exec: string, kind: string): string {
  return `sla:${exec}:${kind}`;
}

/** Whether a timer row is one of these. */
export function isSlaTimer(key: string): boolean {
  return key.startsWith('sla:');
}

/** Arms lines as timers of the engine (in the caller's transaction: the starter's delivery). */
export function createLocalSlaWatch(store: LocalStore): SlaLineWatch {
  return {
    async watchLine(line) {
      const key = slaTimerKey(line.workflow_execution_id, line.kind);
      const exists = store.db.prepare('SELECT 1 FROM timers WHERE key = ?').get(key) !== undefined;
      if (exists) return 'exists';
      store.tx(() => store.setTimer(key, Date.parse(line.line_at), line));
      return 'created';
    },
  };
}

/** The conditional write on the run's row (see the module comment and services/sla SlaMarks). */
export function createLocalSlaMarks(store: LocalStore): SlaMarks {
  const path = (attr: string) => `$.${attr}`;
  return {
    async claim(exec, kind, at) {
      if (kind === 'start_by') return claimStartBy(store, exec, at);
      return store.tx(() => {
        const row = store.db
          .prepare(
            'SELECT status, json_extract(body, ?) AS mark, json_extract(body, ?) AS sent FROM runs WHERE id = ?',
          )
          .get(path(slaMarkAttribute(kind)), path(slaSentAttribute(kind)), exec) as
          | { status: string; mark: string | null; sent: number | string | null }
          | undefined;
        if (!row) return 'unknown' as const;
        if (row.mark !== null) return row.sent !== null ? ('sent' as const) : ('unsent' as const);
        if (row.status !== 'Running') return 'ended' as const;
        const r = store.db
          .prepare(
            "UPDATE runs SET body = json_set(body, ?, ?) WHERE id = ? AND status = 'Running' AND json_extract(body, ?) IS NULL",
          )
          .run(path(slaMarkAttribute(kind)), at, exec, path(slaMarkAttribute(kind)));
        return r.changes === 1 ? ('claimed' as const) : ('sent' as const);
      });
    },
    async sent(exec, kind) {
      if (kind === 'start_by') return;
      store.tx(() => {
        store.db
          .prepare('UPDATE runs SET body = json_set(body, ?, json(?)) WHERE id = ?')
          .run(path(slaSentAttribute(kind)), 'true', exec);
      });
    },
  };
}

/**
 * start_by is about a run that may not exist: a scheduled run that started (in any state now) met
 * it; one that does not exist missed it, and the mark is a row of the state's `meta` table
 * (`sla-start_by:<execution id>`, inserted only if absent), written in the same transaction as the
 * event, so "sent" is implied.
 */
function claimStartBy(store: LocalStore, exec: string, at: string): 'claimed' | 'sent' | 'ended' {
  return store.tx(() => {
    if (store.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(exec) !== undefined) return 'ended';
    const r = store.db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
      .run(`sla-start_by:${exec}`, at);
    return r.changes === 1 ? 'claimed' : 'sent';
  });
}

/**
 * Arms a scheduled firing's start_by line (`rsqlo serve` calls it when a schedule fires for a
 * workflow whose sla has start_by): a timer that, at the line, emits SlaMissed unless the run the
 * firing asked for exists by then. A firing missed while no server ran arms nothing.
 */
export function armStartBy(
  store: LocalStore,
  definition: WorkflowDefinition,
  exec: string,
  scheduledAt: Date,
): boolean {
  const sla = definition.sla;
  if (!sla?.start_by) return false;
  const line = startByLine(
    definition.workflow_id,
    exec,
    { ...sla, start_by: sla.start_by },
    scheduledAt.getTime(),
  );
  store.tx(() => store.setTimer(slaTimerKey(exec, 'start_by'), Date.parse(line.line_at), line));
  return true;
}

/** The check of the engine (its store as marks and outbox). */
export function createLocalSlaCheck(store: LocalStore, clock: { now(): Date }, log: Logger) {
  return createSlaService({
    marks: createLocalSlaMarks(store),
    events: {
      publish: async (evs) => store.publish(evs),
      ensurePublished: async (evs) => store.publish(evs),
    },
    clock,
    log,
  });
}

/**
 * A due SLA timer: the check, then the timer's removal (or, if it fired early, re-arming at its
 * instant). The caller runs it in one unit of work; a payload that is not a line is dropped with
 * an error line (it can never be checked).
 */
export async function fireSlaTimer(
  store: LocalStore,
  check: ReturnType<typeof createLocalSlaCheck>,
  key: string,
  payload: string,
  log: Logger,
): Promise<SlaCheckResult | undefined> {
  let line: SlaLine;
  try {
    line = JSON.parse(payload) as SlaLine;
    if (typeof line?.workflow_execution_id !== 'string' || typeof line.line_at !== 'string')
      throw new Error('not an SLA line');
  } catch (err) {
    log.error('dropped a malformed SLA timer', {
      key,
      error: err instanceof Error ? err.message : String(err),
    });
    store.tx(() => store.deleteTimer(key));
    return undefined;
  }
  const result = await check.check(line);
  store.tx(() => {
    if (result.outcome === 'early') store.setTimer(key, Date.parse(line.line_at), line);
    else store.deleteTimer(key);
  });
  return result;
}
