/**
 * How a job's report reaches the state store: right away, in one transaction with what follows
 * from it (recording, counting, planning, dispatching the next job), after every delivery already
 * under way. A report the store could not take (another process holds its write lock, the disk is
 * full) is never dropped: it is kept and tried again — with a doubling pause while the lock is
 * held, every 500 ms otherwise — and a full disk first halts the engine, which frees the disk
 * reserve for exactly this. Closed, the engine leaves what is left to the jobs' exit journal.
 */
import type { FreshRow, LocalStore, StoreError } from './store.js';
import { storeFailure } from './store.js';

/** Longest pause between two tries while another process holds the state store's write lock. */
const BUSY_BACKOFF_MAX_MS = 2000;

/**
 * The pause between tries while another process holds the store's write lock: 100 ms, doubling
 * with each try, at most BUSY_BACKOFF_MAX_MS; back to the start once a write went through.
 */
export class BusyBackoff {
  private tries = 0;

  /** The next pause (ms). */
  next(): number {
    return Math.min(BUSY_BACKOFF_MAX_MS, 50 * 2 ** Math.min(10, ++this.tries));
  }

  /** A write went through. */
  reset(): void {
    this.tries = 0;
  }
}

/** What the report path needs from the engine. */
export interface ReportCommitDeps {
  store: LocalStore;
  /** Runs `fn` once every delivery started before it has ended (the engine's one chain). */
  exclusive: (fn: () => Promise<void>) => Promise<void>;
  /** `before`, then what it causes at once, in one unit of work (Deliveries.cascade). */
  cascade: (pending: FreshRow[], before: () => void) => Promise<void>;
  /** Whether the chaos switch is on: then a report is committed alone. */
  chaos: boolean;
  closed: () => boolean;
  halted: () => boolean;
  /** Stops the engine taking on work (a full disk, a failing or damaged file). */
  halt: (f: StoreError) => void;
  notify: (line: string) => void;
  backoff: BusyBackoff;
  wake: () => void;
}

/** Job reports on their way to the store (see the module's comment). */
export class ReportCommits {
  /** Reports waiting to be tried again (the store was busy or full), by their retry timer. */
  private readonly unsaved = new Set<NodeJS.Timeout>();
  private toldUnsaved = false;

  constructor(private readonly deps: ReportCommitDeps) {}

  /** How many reports wait to be tried again. */
  get waiting(): number {
    return this.unsaved.size;
  }

  /**
   * A job's report and what follows from it (recording, counting, planning, dispatching the next
   * job) in one transaction, right away: the path from one job to the next. Under the chaos switch,
   * or if the cascade fails, the report is committed alone and the loop delivers the rest.
   */
  commit(write: () => void, tries = 0): Promise<void> {
    const d = this.deps;
    // Closed: the store is gone; the job's exit journal keeps its status for the next engine.
    if (d.closed()) return Promise.resolve();
    return d
      .exclusive(() => this.commitNow(write))
      .catch((err: unknown) => {
        const f = storeFailure(err, d.store.file);
        if (!f || d.closed()) throw err;
        // The report was rolled back whole: keep it, and try again (a full disk first halts the
        // engine, which frees the disk reserve for exactly this).
        if (f.kind !== 'busy') {
          d.halt(f);
          if (tries > 0 && !this.toldUnsaved) {
            this.toldUnsaved = true;
            d.notify(
              `cannot record the result of a job yet (${f.message}); trying again until it can. Free space on that device, or press Ctrl-C to leave it to rsqlo resume`,
            );
          }
        }
        const t = setTimeout(
          () => {
            this.unsaved.delete(t);
            void this.commit(write, tries + 1);
          },
          f.kind === 'busy' ? d.backoff.next() : 500,
        );
        this.unsaved.add(t);
      });
  }

  private async commitNow(write: () => void): Promise<void> {
    const d = this.deps;
    if (!d.chaos && !d.closed() && !d.halted()) {
      let failed: unknown;
      try {
        await d.cascade([], write);
        d.wake();
        return;
      } catch (err) {
        // Commit the report alone below; the loop delivers what follows, each charged on its own.
        failed = err;
      }
      if (storeFailure(failed, d.store.file)) throw failed;
    }
    // Halted: the report alone (what follows from it is delivered by the next engine).
    d.store.tx(write, { wait: false });
    d.backoff.reset();
    d.wake();
  }

  /** Gives up the reports still waiting (the engine closes); how many there were. */
  drop(): number {
    const n = this.unsaved.size;
    for (const t of this.unsaved) clearTimeout(t);
    this.unsaved.clear();
    return n;
  }
}
