/**
 * Redshift's COPY from S3, UNLOAD to S3, STL_LOAD_ERRORS and PG_LAST_COPY_ID/…COUNT on PostgreSQL, for
 * the interpreter (which calls it only when the compatibility layer is on): {@link RedshiftS3.classify}
 * says whether a statement is ours, {@link RedshiftS3.run} runs a COPY/UNLOAD and returns its outcome,
 * {@link RedshiftS3.prepare} rewrites a statement reading stl_load_errors or PG_LAST_*. See
 * rsql/README.md "COPY and UNLOAD with a local S3" for what is supported and how it differs.
 */
import type { ServerMessage, Session, StatementOutcome } from '../session.js';
import { errorOutcome, runCopy } from './copy.js';
import { LoadErrorLog } from './load-errors.js';
import { parseCopy, parseUnload, S3StatementError } from './statement.js';
import { s3Root } from './store.js';
import { runUnload } from './unload.js';

export { parseCopy, parseUnload, redactSecrets } from './statement.js';
export { s3Root } from './store.js';

/** What a statement is to us. */
export type S3StatementKind = 'copy' | 'unload' | 'references' | undefined;

/** The runner's view of the environment. */
export interface RedshiftS3Io {
  /** Opens another connection like the session's (for stl_load_errors, which is not transactional). */
  connectSide: () => Promise<Session>;
  notice: (m: ServerMessage) => void;
  /** The runner variable RSQL_S3_ROOT (--s3-root, -v, \set), the environment and the working directory. */
  root: () => { variable: string | undefined; env: Record<string, string | undefined>; cwd: string };
}

const COPY_S3 = /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*copy\b[\s\S]*\bfrom\s+'s3:\/\//i;
const UNLOAD = /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*unload\b/i;

/** One runner's COPY/UNLOAD emulation (one per interpreter; its counters are per session). */
export class RedshiftS3 {
  readonly log: LoadErrorLog;

  constructor(private readonly io: RedshiftS3Io) {
    this.log = new LoadErrorLog(io.connectSide);
  }

  /** Cheap test of a statement (regular expressions; no tokenising unless it may be ours). */
  classify(sql: string): S3StatementKind {
    if (COPY_S3.test(sql)) return 'copy';
    if (UNLOAD.test(sql)) return 'unload';
    if (LoadErrorLog.mentions(sql)) return 'references';
    return undefined;
  }

  /** Runs a COPY from S3 or an UNLOAD (`classify` said so) on the session; the outcome says how it went. */
  async run(sql: string, session: Session): Promise<StatementOutcome> {
    const started = Date.now();
    let cmd: ReturnType<typeof parseCopy> | ReturnType<typeof parseUnload>;
    try {
      const standard = session.parameter('standard_conforming_strings') !== 'off';
      cmd = parseCopy(sql, standard) ?? parseUnload(sql, standard);
    } catch (e) {
      if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
      throw e;
    }
    if (!cmd) return session.run(sql);
    const ctx = { session, root: s3Root(this.io.root()), log: this.log, notice: this.io.notice };
    const o = cmd.kind === 'copy' ? await runCopy(cmd, ctx) : await runUnload(cmd, ctx);
    return { ...o, elapsedMs: Date.now() - started };
  }

  /** A statement reading stl_load_errors or calling PG_LAST_*, made runnable on PostgreSQL. */
  async prepare(sql: string, standardStrings = true): Promise<string> {
    try {
      return await this.log.rewrite(sql, standardStrings);
    } catch (e) {
      // the helper schema could not be made (no privileges): the statement goes as written
      this.io.notice({
        severity: 'WARNING',
        code: '01000',
        message: `stl_load_errors is not available: ${e instanceof Error ? e.message : String(e)}`,
      });
      return sql;
    }
  }

  /** A new session (\connect): Redshift's PG_LAST_* values are per session. */
  resetSession(): void {
    Object.assign(this.log.last, { copyId: -1, copyCount: 0, unloadId: -1, unloadCount: 0 });
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}
