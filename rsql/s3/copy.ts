/**
 * Redshift `COPY table FROM 's3://…'` against the local S3 folder
 * (https://docs.aws.amazon.com/redshift/latest/dg/r_COPY.html): the files are read as streams
 * (gunzipped with GZIP), split into records and fields, converted with Redshift's rules (values.ts),
 * and the rows that pass are streamed to PostgreSQL with `COPY … FROM STDIN` under backpressure —
 * memory stays flat whatever the file size. Rows that do not pass go to stl_load_errors (on a
 * connection of their own, so they survive a failed load); once MAXERROR is reached the load stops and
 * PostgreSQL rolls the COPY back, and the statement fails with Redshift's message.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream, statSync } from 'node:fs';
import type * as Zlib from 'node:zlib';
import { builtin } from '../builtin.js';
import { utf8SequenceLength } from '../script-text.js';
import type { ServerMessage, Session, StatementOutcome } from '../session.js';
import type { LoadErrorLog, LoadErrorRow } from './load-errors.js';
import { FieldSyntaxError, type RawRecord, RecordSplitter, splitFields } from './records.js';
import type { CopyCommand } from './statement.js';
import { S3StatementError } from './statement.js';
import {
  assertInsideRoot,
  listPrefix,
  localPath,
  parseS3Url,
  readManifest,
  S3LoadError,
  type S3Object,
} from './store.js';
import { type ColumnInfo, type Converter, columnLength, converterFor, ValueError } from './values.js';

/** What a COPY or UNLOAD needs from the runner. */
export interface S3RunContext {
  session: Session;
  /** The local S3 root folder. */
  root: string;
  log: LoadErrorLog;
  /** Prints a server-style notice (INFO lines). */
  notice: (m: ServerMessage) => void;
}

/** A statement outcome that is an error. */
export function errorOutcome(code: string, message: string, detail?: string): StatementOutcome {
  const error: ServerMessage = { severity: 'ERROR', code, message };
  if (detail) error.detail = detail;
  return { rows: [], error, elapsedMs: 0 };
}

/** The files a COPY reads: the manifest's entries, or every object under the key prefix. */
export function copySources(root: string, cmd: CopyCommand): S3Object[] {
  const loc = parseS3Url(cmd.source);
  if (!cmd.manifest) {
    const files = listPrefix(root, loc);
    if (files.length === 0) throw new S3LoadError(`The specified S3 prefix '${loc.key}' does not exist`);
    return files;
  }
  const out: S3Object[] = [];
  for (const entry of readManifest(root, loc)) {
    const e = parseS3Url(entry.url);
    const file = localPath(root, e);
    assertInsideRoot(root, file, e.url);
    let size: number | undefined;
    try {
      const st = statSync(file);
      if (st.isFile()) size = st.size;
    } catch {
      // missing
    }
    if (size === undefined) {
      // "If mandatory is set to true, COPY terminates if it doesn't find the file for that entry"
      if (entry.mandatory)
        throw new S3LoadError(`Manifest file error: the mandatory file ${e.url} was not found`);
      continue;
    }
    out.push({ key: e.key, url: e.url, file, size });
  }
  // "Regardless of any mandatory settings, COPY terminates if no files are found."
  if (out.length === 0) throw new S3LoadError(`None of the files in the manifest ${loc.url} were found`);
  return out;
}

interface Target {
  relname: string;
  oid: number;
  columns: ColumnInfo[];
}

function quoteIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Reads the target table's columns from the catalog on the session (errors are the server's). */
async function describeTarget(
  session: Session,
  cmd: CopyCommand,
): Promise<{ target: Target } | { outcome: StatementOutcome }> {
  const o = await session.run(
    'SELECT a.attname, coalesce(bt.typname, t.typname), CASE WHEN t.typtype = $$d$$ THEN t.typtypmod ELSE a.atttypmod END,' +
      ' a.attnotnull, a.attidentity, a.attgenerated, c.oid::bigint, c.relname' +
      ' FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid' +
      ' JOIN pg_catalog.pg_type t ON t.oid = a.atttypid' +
      ' LEFT JOIN pg_catalog.pg_type bt ON t.typtype = $$d$$ AND bt.oid = t.typbasetype' +
      ` WHERE a.attrelid = ${literal(cmd.table)}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  );
  if (o.error || o.lost) return { outcome: o };
  const all = o.rows.map((r) => {
    const [name, typname, typmodText, notNull, identity, generated] = r as string[];
    const typmod = Number(typmodText);
    const col: ColumnInfo & { identity: boolean; generated: boolean } = {
      name: name as string,
      typname: typname as string,
      length: undefined,
      precision: undefined,
      scale: undefined,
      notNull: notNull === 't',
      identity: identity !== '',
      generated: generated !== '',
    };
    if ((typname === 'varchar' || typname === 'bpchar') && typmod >= 4) col.length = typmod - 4;
    if (typname === 'numeric' && typmod >= 4) {
      col.precision = ((typmod - 4) >> 16) & 0xffff;
      col.scale = (typmod - 4) & 0xffff;
    }
    return col;
  });
  const first = o.rows[0] as string[] | undefined;
  const relname = first?.[7] ?? cmd.table;
  const oid = Number(first?.[6] ?? 0) | 0;
  let columns: ColumnInfo[];
  if (cmd.columns) {
    columns = [];
    for (const name of cmd.columns) {
      const c = all.find((x) => x.name === name);
      if (!c)
        return { outcome: errorOutcome('42703', `column "${name}" of relation "${relname}" does not exist`) };
      // copy-parameters-data-conversion.html EXPLICIT_IDS: "If the command includes a column list, that
      // list must include the IDENTITY columns to use this parameter"; the COPY examples show a column
      // list naming the IDENTITY column without EXPLICIT_IDS failing
      if (c.identity && !cmd.explicitIds) {
        return {
          outcome: errorOutcome('42601', `cannot load IDENTITY column "${name}" without EXPLICIT_IDS`),
        };
      }
      columns.push(c);
    }
    if (cmd.explicitIds && !columns.some((c) => all.find((x) => x.name === c.name)?.identity)) {
      return { outcome: errorOutcome('42601', 'EXPLICIT_IDS needs the IDENTITY column in the column list') };
    }
  } else {
    // IDENTITY columns are generated unless EXPLICIT_IDS loads them from the data
    columns = all.filter((c) => !c.generated && (!c.identity || cmd.explicitIds));
  }
  return { target: { relname, oid, columns } };
}

/** `\\`, tab, newline and carriage return escaped for COPY's text format. */
function copyText(v: string): string {
  return /[\\\t\n\r]/.test(v)
    ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
    : v;
}

/** ACCEPTINVCHARS: "replaces each invalid UTF-8 character with a string of equal length" of `r`. */
function replaceInvalid(bytes: Buffer, r: string): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) {
      out += r;
      i++;
    } else {
      out += bytes.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

function firstInvalidHex(bytes: Buffer): string {
  for (let i = 0; i < bytes.length; ) {
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) return (bytes[i] as number).toString(16).padStart(2, '0');
    i += n;
  }
  return '';
}

/** The load failed; its message and the first error, for the statement's DETAIL. */
class LoadFailed extends Error {
  override name = 'LoadFailed';
}

const OUT_CHUNK = 256 * 1024;
const ERROR_BATCH = 200;
/** Rejected rows recorded per load at most (MAXERROR's own limit). */
const RECORDED_LIMIT = 100_000;

/** Runs a COPY from S3; never throws for a problem of the statement or the data (it is the outcome). */
export async function runCopy(cmd: CopyCommand, ctx: S3RunContext): Promise<StatementOutcome> {
  const started = Date.now();
  let files: S3Object[];
  try {
    files = copySources(ctx.root, cmd);
  } catch (e) {
    if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
    throw e;
  }
  const described = await describeTarget(ctx.session, cmd);
  if ('outcome' in described) return described.outcome;
  const { target } = described;
  const converters: Converter[] = target.columns.map((c) => converterFor(c, cmd));
  const ncols = target.columns.length;
  let queryId: number;
  let logProblem: string | undefined;
  try {
    queryId = await ctx.log.nextQueryId();
  } catch (e) {
    logProblem = e instanceof Error ? e.message : String(e);
    queryId = -1;
  }
  const starttime = new Date(started).toISOString().replace('T', ' ').replace('Z', '');
  const nullAs = cmd.nullAs ?? '\\N';
  const threshold = cmd.ignoreAllErrors ? Number.POSITIVE_INFINITY : Math.max(1, cmd.maxError);
  const fieldOptions = {
    csv: cmd.csv,
    delimiter: cmd.delimiter,
    quote: cmd.quote,
    escape: cmd.escape,
    removeQuotes: cmd.removeQuotes,
  };
  let loaded = 0;
  let errors = 0;
  let firstError: LoadErrorRow | undefined;
  let pendingErrors: LoadErrorRow[] = [];
  let recorded = 0;
  const flushErrors = async () => {
    const batch = pendingErrors;
    pendingErrors = [];
    if (batch.length === 0 || logProblem !== undefined) return;
    try {
      await ctx.log.record(batch);
    } catch (e) {
      logProblem = e instanceof Error ? e.message : String(e);
    }
  };

  const reject = (
    file: S3Object,
    rec: RawRecord,
    text: string,
    col: ColumnInfo | undefined,
    raw: string,
    err: ValueError,
  ) => {
    errors++;
    const row: LoadErrorRow = {
      tbl: target.oid,
      starttime,
      session: ctx.session.backendPid,
      query: queryId,
      filename: file.url,
      lineNumber: rec.line,
      colname: col?.name ?? '',
      type: col?.typname ?? '',
      colLength: col ? columnLength(col) : '',
      position: err.position,
      rawLine: text,
      rawFieldValue: raw,
      errCode: err.code,
      errReason: err.reason,
    };
    firstError ??= row;
    if (recorded < RECORDED_LIMIT) {
      pendingErrors.push(row);
      recorded++;
    }
  };

  /** One record → a COPY text line, or undefined (rejected / skipped). */
  const convert = (file: S3Object, rec: RawRecord): string | undefined => {
    let text: string;
    if (isUtf8(rec.bytes)) text = rec.bytes.toString('utf8');
    else if (cmd.acceptInvChars !== undefined) text = replaceInvalid(rec.bytes, cmd.acceptInvChars);
    else {
      text = rec.bytes.toString('utf8');
      reject(
        file,
        rec,
        text,
        undefined,
        '',
        new ValueError(
          1220,
          `String contains invalid or unsupported UTF8 codepoints. Bad UTF8 hex sequence: ${firstInvalidHex(rec.bytes)}`,
        ),
      );
      return undefined;
    }
    if (text === '' && cmd.ignoreBlankLines) return undefined;
    if (rec.unterminated) {
      reject(file, rec, text, undefined, '', new ValueError(1216, 'Unterminated quoted field (CSV)'));
      return undefined;
    }
    let fields: ReturnType<typeof splitFields>;
    try {
      fields = splitFields(text, fieldOptions);
    } catch (e) {
      if (!(e instanceof FieldSyntaxError)) throw e;
      reject(file, rec, text, undefined, '', new ValueError(1216, e.message, e.position));
      return undefined;
    }
    // a delimiter ending the line adds no field (r_COPY_command_examples: "1|Toyota Park|Bridgeview|IL|"
    // loads into four columns)
    if (fields.length === ncols + 1 && fields[ncols]?.raw === '' && !fields[ncols]?.quoted) fields.pop();
    if (fields.length > ncols) {
      reject(file, rec, text, undefined, '', new ValueError(1202, 'Extra column(s) found', 0));
      return undefined;
    }
    const out = new Array<string>(ncols);
    for (let j = 0; j < ncols; j++) {
      const col = target.columns[j] as ColumnInfo;
      const f = fields[j];
      let v: string | null;
      try {
        if (f === undefined) {
          // FILLRECORD: "The missing columns are loaded as NULLs … if the missing column is a VARCHAR
          // column, zero-length strings are loaded instead of NULLs" (unless EMPTYASNULL)
          if (!cmd.fillRecord) throw new ValueError(1214, 'Delimiter not found', text.length);
          const isText = col.typname === 'varchar' || col.typname === 'text' || col.typname === 'bpchar';
          if (isText && !cmd.emptyAsNull) v = (converters[j] as Converter)('');
          else if (col.notNull) throw new ValueError(1213, 'Missing data for not-null field');
          else v = null;
        } else if (
          !f.quoted &&
          (f.raw === nullAs || (cmd.escape && cmd.nullAs === undefined && f.raw === '\\\\N'))
        ) {
          v = null;
          if (col.notNull) throw new ValueError(1213, 'Missing data for not-null field');
        } else {
          if (f.value.includes('\0')) {
            throw new ValueError(
              1220,
              'String contains the NUL character (0x00), which PostgreSQL cannot store',
            );
          }
          v = (converters[j] as Converter)(f.value);
        }
      } catch (e) {
        if (!(e instanceof ValueError)) throw e;
        reject(file, rec, text, col, f?.raw ?? '', e);
        return undefined;
      }
      out[j] = v === null ? '\\N' : copyText(v);
    }
    return `${out.join('\t')}\n`;
  };

  /** Streams every file's accepted rows into `write`; throws LoadFailed at MAXERROR. */
  const produce = async (write: (chunk: Buffer) => Promise<void> | undefined, closed: () => boolean) => {
    let batch: string[] = [];
    let size = 0;
    const send = async () => {
      if (batch.length === 0) return;
      const chunk = Buffer.from(batch.join(''), 'utf8');
      batch = [];
      size = 0;
      await write(chunk);
    };
    const handle = async (file: S3Object, recs: RawRecord[]) => {
      for (const rec of recs) {
        const line = convert(file, rec);
        if (line !== undefined) {
          batch.push(line);
          size += line.length;
          loaded++;
        }
        if (errors >= threshold) throw new LoadFailed(`Load into table '${target.relname}' failed`);
      }
      if (pendingErrors.length >= ERROR_BATCH) await flushErrors();
      if (size >= OUT_CHUNK) await send();
    };
    for (const file of files) {
      const splitter = new RecordSplitter({
        csv: cmd.csv,
        quote: cmd.quote.charCodeAt(0),
        escape: cmd.escape,
        ignoreHeader: cmd.ignoreHeader,
      });
      const input = createReadStream(file.file, { highWaterMark: 256 * 1024 });
      const stream = cmd.gzip ? input.pipe(builtin<typeof Zlib>('node:zlib').createGunzip()) : input;
      if (cmd.gzip) input.on('error', (e) => stream.destroy(e));
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (closed()) return;
          await handle(file, splitter.push(chunk));
        }
      } catch (e) {
        if (e instanceof LoadFailed) throw e;
        throw new LoadFailed(`Problem reading ${file.url}: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        input.destroy();
      }
      await handle(file, splitter.end());
    }
    await send();
  };

  let outcome: StatementOutcome;
  let failure: LoadFailed | undefined;
  const copySql = `COPY ${cmd.table} (${target.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN`;
  if (cmd.noLoad) {
    // "Checks the validity of the data file without actually loading the data."
    try {
      await produce(
        () => undefined,
        () => false,
      );
    } catch (e) {
      if (!(e instanceof LoadFailed)) throw e;
      failure = e;
    }
    loaded = 0;
    outcome = failure ? { rows: [], elapsedMs: 0 } : { rows: [], tag: 'COPY 0', elapsedMs: 0 };
  } else {
    outcome = await ctx.session.run(copySql, {
      copyIn: async (sink) => {
        try {
          await produce(
            (chunk) => sink.write(chunk),
            () => sink.closed(),
          );
        } catch (e) {
          if (e instanceof LoadFailed) failure = e;
          throw e;
        }
      },
    });
  }
  await flushErrors();
  if (outcome.lost) return outcome;
  ctx.log.last.copyId = queryId;
  if (logProblem !== undefined && errors > 0) {
    ctx.notice({
      severity: 'WARNING',
      code: '01000',
      message: `rejected rows could not be recorded in stl_load_errors: ${logProblem}`,
    });
  }
  if (failure) {
    ctx.log.last.copyCount = 0;
    const fe = firstError;
    const message = fe
      ? `Load into table '${target.relname}' failed.  Check 'stl_load_errors' system table for details.`
      : failure.message;
    const detail = fe
      ? [
          '',
          '  -----------------------------------------------',
          `  error:  ${fe.errReason}`,
          `  code:      ${fe.errCode}`,
          `  context:   ${fe.rawFieldValue.slice(0, 100)}`,
          `  query:     ${queryId}`,
          `  location:  ${fe.filename} line ${fe.lineNumber}`,
          '  process:   rsql',
          '  -----------------------------------------------',
        ].join('\n')
      : undefined;
    return { ...errorOutcome('XX000', message, detail), elapsedMs: Date.now() - started };
  }
  if (outcome.error) {
    ctx.log.last.copyCount = 0;
    return outcome;
  }
  ctx.log.last.copyCount = loaded;
  ctx.notice({
    severity: 'INFO',
    code: '00000',
    message: `Load into table '${target.relname}' completed, ${loaded} record(s) loaded successfully.`,
  });
  if (errors > 0) {
    ctx.notice({
      severity: 'INFO',
      code: '00000',
      message: `Load into table '${target.relname}' completed, ${errors} record(s) could not be loaded.  Check 'stl_load_errors' system table for details.`,
    });
  }
  return { rows: [], tag: 'COPY', activityCount: loaded, elapsedMs: Date.now() - started };
}
