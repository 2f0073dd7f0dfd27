/**
 * Redshift `UNLOAD ('select …') TO 's3://…'` into the local S3 folder
 * (https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html, examples in r_UNLOAD_command_examples):
 * the query runs as `COPY (query) TO STDOUT` and its rows are written as Redshift writes them —
 * pipe-delimited text (DELIMITER, ADDQUOTES, ESCAPE, NULL AS), CSV, or FIXEDWIDTH; HEADER; GZIP; one
 * slice's files `<prefix>0000_part_00` (PARALLEL ON) or `<prefix>000` (PARALLEL OFF), a new part per
 * MAXFILESIZE; MANIFEST [VERBOSE]. Files are written under temporary names and renamed when the whole
 * unload succeeded: a failed UNLOAD leaves nothing half-written. The socket is paused whenever the disk
 * (or gzip) is behind, so memory stays flat.
 */
import { once } from 'node:events';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type * as Zlib from 'node:zlib';
import { builtin } from '../builtin.js';
import { rewriteForPostgres, tokenizeSql } from '../compat.js';
import type { Column } from '../format.js';
import type { StatementOutcome } from '../session.js';
import { errorOutcome, type S3RunContext } from './copy.js';
import { LoadErrorLog } from './load-errors.js';
import { S3StatementError, type UnloadCommand } from './statement.js';
import { assertInsideRoot, listPrefix, localPath, parseS3Url, type S3Location } from './store.js';

/** Character types: ESCAPE applies to them only ("For CHAR and VARCHAR columns"). */
const CHAR_TYPES = new Set([25, 1042, 1043, 19]);

/** The query has a LIMIT outside any parentheses ("The SELECT query can't use a LIMIT clause in the outer SELECT"). */
function hasOuterLimit(query: string, standardStrings: boolean): boolean {
  let depth = 0;
  for (const t of tokenizeSql(query, standardStrings)) {
    if (t.type === 'punct' && t.text === '(') depth++;
    else if (t.type === 'punct' && t.text === ')') depth--;
    else if (depth === 0 && t.type === 'word' && t.text.toUpperCase() === 'LIMIT') return true;
  }
  return false;
}

/** Decodes one field of PostgreSQL's COPY text format (null for `\N`). */
function copyField(raw: string): string | null {
  if (raw === '\\N') return null;
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v' }[e] ?? e;
  });
}

/** Formats one row of values (or the header) as the unload options say. */
function rowFormatter(
  cmd: UnloadCommand,
  columns: Column[],
): (values: (string | null)[], header?: boolean) => string {
  const d = cmd.delimiter;
  const isChar = columns.map((c) => CHAR_TYPES.has(c.typeId));
  if (cmd.fixedWidth) {
    const widths = cmd.fixedWidth.map((f) => f.width);
    if (widths.length !== columns.length) {
      throw new S3StatementError(
        '22023',
        `FIXEDWIDTH names ${widths.length} columns, the query returns ${columns.length}`,
      );
    }
    return (values) =>
      `${values
        .map((v, j) => {
          const w = widths[j] as number;
          let s = v ?? cmd.nullAs ?? '';
          if (v === null && s.length > w) {
            // "An empty field is output for non-character columns; an error is reported for character columns"
            if (isChar[j])
              throw new S3StatementError(
                'XX000',
                `NULL AS string is wider than column ${j + 1}'s FIXEDWIDTH ${w}`,
              );
            s = '';
          }
          if (s.length > w) {
            throw new S3StatementError(
              'XX000',
              `a value of column ${j + 1} is wider than its FIXEDWIDTH ${w} ("FIXEDWIDTH doesn't truncate data")`,
            );
          }
          return s.padEnd(w, ' ');
        })
        .join('')}\n`;
  }
  if (cmd.csv) {
    const q = '"';
    const needs = new RegExp(`[${d.replace(/[\\\]^-]/g, '\\$&')}"\\n\\r]`);
    // "If a field contains delimiters, double quotation marks, newline characters, or carriage returns,
    // then the field in the unloaded file is enclosed in double quotation marks. A double quotation mark
    // within a data field is escaped by an additional double quotation mark."
    return (values) =>
      `${values
        .map((v) => {
          if (v === null) return cmd.nullAs ?? '';
          return needs.test(v) ? `${q}${v.replaceAll(q, q + q)}${q}` : v;
        })
        .join(d)}\n`;
  }
  const escapeChars = new RegExp(
    `[\\n\\r\\\\${d.replace(/[\\\]^-]/g, '\\$&')}${cmd.addQuotes ? `"'` : ''}]`,
    'g',
  );
  return (values, header) =>
    `${values
      .map((v, j) => {
        // "UNLOAD outputs null values as empty strings by default"
        let s = v ?? cmd.nullAs ?? '';
        // ESCAPE: "For CHAR and VARCHAR columns … an escape character (\) is placed before every
        // occurrence of" line feed, carriage return, the delimiter, the escape character, and quotes
        // with ADDQUOTES; HEADER: "Text transformation options … also apply to the header line"
        if (cmd.escape && v !== null && (header || isChar[j])) s = s.replace(escapeChars, (c) => `\\${c}`);
        return cmd.addQuotes ? `"${s}"` : s;
      })
      .join(d)}\n`;
}

/** The type of a column as MANIFEST VERBOSE describes it. */
function manifestType(c: Column): Record<string, unknown> {
  const mod = c.typeMod ?? -1;
  const names: Record<number, string> = {
    16: 'boolean',
    20: 'bigint',
    21: 'smallint',
    23: 'integer',
    25: 'text',
    700: 'real',
    701: 'double precision',
    1042: 'character',
    1043: 'character varying',
    1082: 'date',
    1083: 'time without time zone',
    1114: 'timestamp without time zone',
    1184: 'timestamp with time zone',
    1700: 'numeric',
  };
  const t: Record<string, unknown> = { base: names[c.typeId] ?? `oid ${c.typeId}` };
  if ((c.typeId === 1042 || c.typeId === 1043) && mod >= 4) t.max_length = mod - 4;
  if (c.typeId === 1700 && mod >= 4) {
    t.precision = ((mod - 4) >> 16) & 0xffff;
    t.scale = (mod - 4) & 0xffff;
  }
  return t;
}

interface OutFile {
  final: string;
  tmp: string;
  url: string;
  rows: number;
  bytes: number;
  out: Writable;
  file: Writable;
  /** Settles when the file is closed (written out). */
  closed: Promise<unknown>;
}

/** Runs an UNLOAD; never throws for a problem of the statement or the query (it is the outcome). */
export async function runUnload(cmd: UnloadCommand, ctx: S3RunContext): Promise<StatementOutcome> {
  const started = Date.now();
  let loc: S3Location;
  try {
    loc = parseS3Url(cmd.target);
  } catch (e) {
    if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
    throw e;
  }
  if (hasOuterLimit(cmd.query, ctx.session.parameter('standard_conforming_strings') !== 'off')) {
    return errorOutcome(
      '0A000',
      "UNLOAD's query cannot have a LIMIT clause in its outer SELECT; use a nested one (r_UNLOAD.html)",
    );
  }
  const standardStrings = ctx.session.parameter('standard_conforming_strings') !== 'off';
  let query = rewriteForPostgres(cmd.query, { standardStrings }).sql.trim().replace(/;\s*$/, '');
  if (LoadErrorLog.mentions(query)) query = await ctx.log.rewrite(query, standardStrings);
  // the columns: names and types, without running the query for its rows
  const shape = await ctx.session.run(`SELECT * FROM (${query}) AS rsqlo_unload LIMIT 0`);
  if (shape.error || shape.lost || !shape.columns) return shape.columns ? shape : { ...shape, rows: [] };
  const columns = shape.columns;
  let format: ReturnType<typeof rowFormatter>;
  try {
    format = rowFormatter(cmd, columns);
  } catch (e) {
    if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
    throw e;
  }

  // where the files go; what is already there
  const dir = path.dirname(localPath(ctx.root, { ...loc, key: `${loc.key}x` }));
  try {
    assertInsideRoot(ctx.root, dir, loc.url);
  } catch (e) {
    if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
    throw e;
  }
  const base = loc.key.slice(loc.key.lastIndexOf('/') + 1);
  const ext = cmd.extension !== undefined ? `.${cmd.extension}` : cmd.gzip ? '.gz' : '';
  const namePattern = new RegExp(
    `^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d{4}_part_\\d{2}|\\d{3})(\\..*)?$|^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}manifest$`,
  );
  if (cmd.cleanPath) {
    // "removes existing files located in the Amazon S3 path specified in the TO clause"
    try {
      for (const o of listPrefix(ctx.root, loc)) rmSync(o.file, { force: true });
    } catch (e) {
      if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
      throw e;
    }
  } else if (!cmd.allowOverwrite && existsSync(dir) && readdirSync(dir).some((n) => namePattern.test(n))) {
    return errorOutcome(
      'XX000',
      'Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, manually removing the target files in S3, or using the ALLOWOVERWRITE option.',
    );
  }
  try {
    mkdirSync(dir, { recursive: true });
    // a link swapped in while the folders were made
    assertInsideRoot(ctx.root, dir, loc.url);
  } catch (e) {
    if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
    return errorOutcome(
      'XX000',
      `UNLOAD could not create ${loc.url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }

  let queryId = -1;
  try {
    queryId = await ctx.log.nextQueryId();
  } catch {
    // stl tables not installable (no privileges): the unload still runs
  }

  const files: OutFile[] = [];
  let current: OutFile | undefined;
  let rows = 0;
  let partial = '';
  let writeError: unknown;
  const name = (i: number) =>
    cmd.parallel ? `${base}0000_part_${String(i).padStart(2, '0')}` : `${base}${String(i).padStart(3, '0')}`;
  const headerLine = cmd.header
    ? format(
        columns.map((c) => c.name),
        true,
      )
    : '';
  const open = (): OutFile => {
    const i = files.length;
    const final = path.join(dir, `${name(i)}${ext}`);
    const tmp = path.join(dir, `.${name(i)}${ext}.rsqlo-${process.pid}.tmp`);
    const file = createWriteStream(tmp);
    file.on('error', (e) => {
      writeError ??= e;
    });
    let out: Writable = file;
    if (cmd.gzip) {
      const gz = builtin<typeof Zlib>('node:zlib').createGzip();
      gz.on('error', (e: Error) => {
        writeError ??= e;
      });
      gz.pipe(file);
      out = gz;
    }
    const url = `s3://${loc.bucket}/${loc.key.slice(0, loc.key.length - base.length)}${name(i)}${ext}`;
    const closed = once(file, 'close').catch(() => {});
    const f: OutFile = { final, tmp, url, rows: 0, bytes: 0, out, file, closed };
    files.push(f);
    if (headerLine) {
      out.write(headerLine);
      f.bytes += Buffer.byteLength(headerLine);
      f.rows++;
    }
    return f;
  };
  const closeFile = async (f: OutFile) => {
    if (!f.out.writableEnded) f.out.end();
    await f.closed;
  };
  const writeRow = (line: string): Promise<void> | undefined => {
    const values = line.split('\t').map(copyField);
    const text = format(values);
    const size = Buffer.byteLength(text);
    if (!current || (current.rows > (cmd.header ? 1 : 0) && current.bytes + size > cmd.maxFileSize)) {
      if (current) {
        const done = current;
        current = open();
        void closeFile(done);
      } else current = open();
    }
    current.bytes += size;
    current.rows++;
    rows++;
    if (!current.out.write(text)) return once(current.out, 'drain').then(() => {});
    return undefined;
  };

  let outcome: StatementOutcome;
  try {
    outcome = await ctx.session.run(`COPY (${query}) TO STDOUT`, {
      onCopyOut: (chunk) => {
        if (writeError) return undefined;
        try {
          const data = partial + chunk.toString('utf8');
          const lines = data.split('\n');
          partial = lines.pop() ?? '';
          let wait: Promise<void> | undefined;
          for (const line of lines) wait = writeRow(line) ?? wait;
          return wait;
        } catch (e) {
          writeError ??= e;
          return undefined;
        }
      },
    });
    // no rows: one (empty, or header-only) file, so the prefix exists for a COPY
    if (!outcome.error && !outcome.lost && !current) current = open();
    await Promise.all(files.map(closeFile));
  } catch (e) {
    writeError ??= e;
    outcome = { rows: [], elapsedMs: 0 };
  }
  const discard = () => {
    for (const f of files) rmSync(f.tmp, { force: true });
  };
  if (outcome.error || outcome.lost) {
    discard();
    ctx.log.last.unloadCount = 0;
    return outcome;
  }
  if (writeError) {
    discard();
    ctx.log.last.unloadCount = 0;
    const e = writeError;
    if (e instanceof S3StatementError) return errorOutcome(e.code, e.message);
    return errorOutcome(
      'XX000',
      `UNLOAD could not write to ${loc.url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    for (const f of files) f.bytes = statSync(f.tmp).size;
    for (const f of files) renameSync(f.tmp, f.final);
    if (cmd.manifest) writeManifest(cmd, ctx.root, loc, base, files, columns);
  } catch (e) {
    // a file name taken by a folder, a full disk, a vanished folder: the statement fails, and the
    // temporary files go (parts already renamed stay, as S3 keeps the parts an UNLOAD wrote)
    discard();
    ctx.log.last.unloadCount = 0;
    return errorOutcome(
      'XX000',
      `UNLOAD could not write to ${loc.url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  ctx.log.last.unloadId = queryId;
  ctx.log.last.unloadCount = rows;
  ctx.notice({
    severity: 'INFO',
    code: '00000',
    message: `UNLOAD completed, ${rows} record(s) unloaded successfully.`,
  });
  return { rows: [], tag: 'UNLOAD', activityCount: rows, elapsedMs: Date.now() - started };
}

/** `<prefix>manifest`, laid out like the examples of r_UNLOAD_command_examples. */
function writeManifest(
  cmd: UnloadCommand,
  root: string,
  loc: S3Location,
  base: string,
  files: OutFile[],
  columns: Column[],
): void {
  const file = path.join(path.dirname(localPath(root, { ...loc, key: `${loc.key}x` })), `${base}manifest`);
  const lines: string[] = ['{', '  "entries": ['];
  files.forEach((f, i) => {
    const entry = cmd.manifestVerbose
      ? `{"url":"${f.url}", "meta": { "content_length": ${f.bytes}, "record_count": ${f.rows} }}`
      : `{"url":"${f.url}"}`;
    lines.push(`    ${entry}${i < files.length - 1 ? ',' : ''}`);
  });
  lines.push(cmd.manifestVerbose ? '  ],' : '  ]');
  if (cmd.manifestVerbose) {
    lines.push('  "schema": {', '    "elements": [');
    columns.forEach((c, i) => {
      lines.push(
        `      {"name": ${JSON.stringify(c.name)}, "type": ${JSON.stringify(manifestType(c))}}${i < columns.length - 1 ? ',' : ''}`,
      );
    });
    lines.push('    ]', '  },', '  "meta": {');
    lines.push(`    "content_length": ${files.reduce((a, f) => a + f.bytes, 0)},`);
    lines.push(`    "record_count": ${files.reduce((a, f) => a + f.rows, 0)}`);
    lines.push('  },', '  "author": {', '    "name": "Amazon Redshift",', '    "version": "1.0.0"', '  }');
  }
  lines.push('}');
  const tmp = `${file}.rsqlo-${process.pid}.tmp`;
  // a small file: written whole, then renamed into place
  try {
    writeFileSync(tmp, `${lines.join('\n')}\n`);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
