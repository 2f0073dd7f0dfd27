/**
 * What the embedded engine is opened with (the composition root, the CLI and tests fill it in).
 * Its own module so that callers can speak of the options without loading the engine.
 */

import type { EventEnvelope } from '../../events/envelope.js';
import type { Clock, Logger } from '../../services/ports.js';

/**
 * Test switch: deliver every event, change record, queue message and timer twice (the copy
 * later, after other deliveries) and shuffle each batch. Outcomes must not change.
 */
export interface ChaosOptions {
  duplicate: boolean;
  reorder: boolean;
  seed?: number;
}

export interface EngineOptions {
  /** Engine home: state, logs, lock (created if missing). */
  home: string;
  clock?: Clock;
  log?: Logger;
  chaos?: ChaosOptions;
  /** Environment every job starts from; default: this process's environment. */
  baseEnv?: () => Record<string, string>;
  /** How `.sql` scripts run (default: `rsql` on the jobs' PATH). */
  rsqlCommand?: string[];
  /** Most scripts running at once (default 64). */
  maxProcesses?: number;
  /** SIGTERM → SIGKILL grace when a job is killed (default 1000 ms). */
  killGraceMs?: number;
  /** How often an idle engine looks for work written by other processes (default 250 ms). */
  pollMs?: number;
  /** Hears every event after it is committed (progress display). */
  onEvent?: (e: EventEnvelope) => void;
  /**
   * Leave the trigger service's deliveries (`trigger.after`) pending instead of starting the
   * workflows that wait for a finished one: a plain `rsqlo run` does not start another workflow
   * and exit while it runs; the next `rsqlo serve` of the home delivers them (the trigger's own
   * rules then decide). The CLI's foreground commands turn it on (cli/drive.ts,
   * {@link LocalEngine.holdTriggers}). Default false: delivered (`rsqlo serve`).
   */
  holdTriggers?: boolean;
  /** Hears events that match an alert rule. */
  onAlert?: (e: EventEnvelope, rule: string) => void;
  /** Runs before the first job starts; returns variables for every job (the database connection). */
  prepareJobs?: () => Promise<Record<string, string>>;
  /** Hears problems worth telling the user. */
  onWarning?: (message: string) => void;
  /** Hears, once, how jobs are contained when it is the weaker fallback (see LocalAgentOptions). */
  onNotice?: (message: string) => void;
  /**
   * Lines for the user about the engine itself: waiting for another process's lock on the state
   * store, a full disk. Default: stderr, as `rsqlo: <line>`.
   */
  notify?: (line: string) => void;
  /** Bytes kept in `<home>/disk-reserve`, released when the disk fills (default 1 MiB; 0: none). */
  diskReserveBytes?: number;
  /**
   * Go on although the state does not know runs whose logs are in the home (LostStateError):
   * their folders are moved to `<home>/lost/<time>/` first. Default false: refuse.
   */
  forgetLostRuns?: boolean;
}
