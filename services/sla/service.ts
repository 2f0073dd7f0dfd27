/**
 * The SLA check (issue 15): what a fired line timer does. A line of a run (services/sla/lines.ts)
 * is checked once its instant has come; a run still Running then has missed it, and the check
 * emits `SlaMissed` (finish_by, max_duration) or `RunLongerThanUsual` — **once per run and kind**,
 * however often the timer fires (duplicated, reordered, retried): the check first makes a
 * conditional write on the run (`sla_missed_<kind>`, set only while the run is Running and the
 * mark is absent), and only the write that set it publishes. The event id is deterministic
 * (contracts/events.ts eventIds), so consumers that dedupe on it see one event even when a crash
 * between the mark and the publish makes the retry publish again: a mark whose event is not yet
 * recorded as sent (`sla_sent_<kind>`) is published by the next check, then recorded sent.
 */
import { EVENT_VERSION, eventIds, type RsqloEvent } from '../../contracts/events.js';
import type { Clock, EventPublisher, Logger } from '../ports.js';
import type { LineKind, SlaLine } from './lines.js';

/** The run attribute that marks a line missed (its value: when the check found it so). */
export const slaMarkAttribute = (kind: LineKind) => `sla_missed_${kind}`;
/** The run attribute that records the event of a missed line as published. */
export const slaSentAttribute = (kind: LineKind) => `sla_sent_${kind}`;

/**
 * The conditional write on the run that makes a missed line fire once: `claim` sets the mark only
 * while the run is Running and unmarked (`claimed`); otherwise it says why not — marked and sent
 * (`sent`), marked but never recorded sent (`unsent`: the publisher crashed), the run ended
 * (`ended`), no such run (`unknown`).
 */
export interface SlaMarks {
  claim(
    exec: string,
    kind: LineKind,
    at: string,
  ): Promise<'claimed' | 'unsent' | 'sent' | 'ended' | 'unknown'>;
  sent(exec: string, kind: LineKind): Promise<void>;
}

export type SlaCheckResult =
  | { outcome: 'missed'; kind: LineKind; workflow_execution_id: string; event_id: string }
  | { outcome: 'already'; kind: LineKind; workflow_execution_id: string }
  | { outcome: 'ended'; kind: LineKind; workflow_execution_id: string }
  | { outcome: 'unknown-run'; kind: LineKind; workflow_execution_id: string }
  | { outcome: 'early'; kind: LineKind; workflow_execution_id: string };

export interface SlaDeps {
  marks: SlaMarks;
  events: EventPublisher;
  clock: Clock;
  log: Logger;
}

/** The event a missed line emits (deterministic id: the same for every check of the same line). */
export function missedEvent(line: SlaLine, at: string): RsqloEvent {
  const base = {
    version: EVENT_VERSION,
    occurred_at: at,
    workflow_id: line.workflow_id,
    workflow_execution_id: line.workflow_execution_id,
  };
  if (line.kind === 'longer_than_usual') {
    const p90 = line.p90_seconds ?? 0;
    return {
      detailType: 'RunLongerThanUsual',
      detail: {
        ...base,
        event_id: eventIds.runLongerThanUsual(line.workflow_execution_id),
        started_at: line.started_at ?? line.line_at,
        line_at: line.line_at,
        p90_seconds: p90,
        threshold_seconds: Math.round(p90 * 1.5 * 1000) / 1000,
        history_runs: 20,
      },
    };
  }
  return {
    detailType: 'SlaMissed',
    detail: {
      ...base,
      event_id: eventIds.slaMissed(line.workflow_execution_id, line.kind),
      kind: line.kind,
      line_at: line.line_at,
      line: line.line,
      started_at: line.started_at,
    },
  };
}

export function createSlaService(deps: SlaDeps) {
  return {
    /** One check of one line of one run (see the module comment). */
    async check(line: SlaLine): Promise<SlaCheckResult> {
      const exec = line.workflow_execution_id;
      const ids = { kind: line.kind, workflow_execution_id: exec };
      const now = deps.clock.now();
      if (now.getTime() < Date.parse(line.line_at)) return { outcome: 'early', ...ids };
      const at = now.toISOString();
      const claim = await deps.marks.claim(exec, line.kind, at);
      if (claim === 'sent') return { outcome: 'already', ...ids };
      if (claim === 'ended') return { outcome: 'ended', ...ids };
      if (claim === 'unknown') return { outcome: 'unknown-run', ...ids };
      const event = missedEvent(line, at);
      await (claim === 'claimed' ? deps.events.publish([event]) : deps.events.ensurePublished([event]));
      await deps.marks.sent(exec, line.kind);
      deps.log.warn(line.kind === 'longer_than_usual' ? 'run longer than usual' : 'SLA missed', {
        workflow_id: line.workflow_id,
        workflow_execution_id: exec,
        kind: line.kind,
        line: line.line,
        line_at: line.line_at,
      });
      return { outcome: 'missed', ...ids, event_id: event.detail.event_id as string };
    },
  };
}

export type SlaService = ReturnType<typeof createSlaService>;
