/**
 * Parses Redshift's `COPY … FROM 's3://…'` and `UNLOAD ('select …') TO 's3://…'` into options
 * (https://docs.aws.amazon.com/redshift/latest/dg/r_COPY.html,
 * https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html). Token-aware (compat.ts tokenizer).
 * A COPY whose source is not an `s3://` string is not ours (PostgreSQL's COPY, `FROM STDIN`): undefined.
 * Authorization and AWS-only options are accepted and ignored; formats the local emulation does not
 * read or write are refused with SQLSTATE 0A000. No message ever repeats an option's value (credentials
 * are written in these statements).
 */
import { type SqlToken, tokenizeSql } from '../compat.js';

/** A statement we cannot run: SQLSTATE and message, as the server would report them. */
export class S3StatementError extends Error {
  override name = 'S3StatementError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The text-file options COPY and UNLOAD share. */
interface TextFormat {
  /** CSV (RFC 4180 quoting) instead of Redshift's delimited text. */
  csv: boolean;
  /** Field delimiter (default `|`, `,` with CSV). */
  delimiter: string;
  /** CSV quote character (default `"`). */
  quote: string;
  /** Backslash escapes (ESCAPE). */
  escape: boolean;
  /** NULL AS: the text standing for NULL (COPY default `\N`, UNLOAD default ''). */
  nullAs: string | undefined;
  gzip: boolean;
}

/** `COPY table [(cols)] FROM 's3://…' …` */
export interface CopyCommand extends TextFormat {
  kind: 'copy';
  /** The table as written (identifiers keep their quotes). */
  table: string;
  /** The column list as written, unquoted names; undefined when absent. */
  columns: string[] | undefined;
  /** The `s3://bucket/key` source (a key prefix, or the manifest with MANIFEST). */
  source: string;
  manifest: boolean;
  ignoreHeader: number;
  emptyAsNull: boolean;
  blanksAsNull: boolean;
  /** DATEFORMAT: a format string, `auto`, or undefined (default YYYY-MM-DD). */
  dateFormat: string | undefined;
  /** TIMEFORMAT: a format string, `auto`, `epochsecs`, `epochmillisecs` or undefined. */
  timeFormat: string | undefined;
  /** MAXERROR (0 = fail at the first error; the load fails once this many errors are reached). */
  maxError: number;
  ignoreAllErrors: boolean;
  removeQuotes: boolean;
  fillRecord: boolean;
  ignoreBlankLines: boolean;
  trimBlanks: boolean;
  truncateColumns: boolean;
  roundDec: boolean;
  acceptAnyDate: boolean;
  /** ACCEPTINVCHARS replacement character, or undefined (invalid UTF-8 is an error). */
  acceptInvChars: string | undefined;
  explicitIds: boolean;
  noLoad: boolean;
}

/** `UNLOAD ('select …') TO 's3://…' …` */
export interface UnloadCommand extends TextFormat {
  kind: 'unload';
  /** The SELECT, unquoted. */
  query: string;
  /** The `s3://bucket/name-prefix` target. */
  target: string;
  header: boolean;
  addQuotes: boolean;
  allowOverwrite: boolean;
  cleanPath: boolean;
  parallel: boolean;
  manifest: boolean;
  manifestVerbose: boolean;
  /** MAXFILESIZE in bytes (default 6.2 GB). */
  maxFileSize: number;
  /** EXTENSION, without a leading dot; undefined when absent. */
  extension: string | undefined;
  /** FIXEDWIDTH spec: column widths in order; undefined when absent. */
  fixedWidth: { label: string; width: number }[] | undefined;
}

/** UNLOAD's default and largest file size: 6.2 GB (r_UNLOAD.html, MAXFILESIZE). */
export const UNLOAD_MAX_FILE_SIZE = Math.round(6.2 * 1024 ** 3);

/** MAXERROR's limit (copy-parameters-data-load.html: "the limit is 100000"). */
export const MAXERROR_LIMIT = 100_000;

const significant = (t: SqlToken) => t.type !== 'space' && t.type !== 'comment';

/** Backslash escapes of an E'' string (or of any string with standard_conforming_strings off). */
function decodeEscapes(body: string): string {
  return body.replace(/\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)/gs, (_, e: string) => {
    if (e[0] === 'x' && e.length > 1) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

/**
 * The value of a `'…'` string token as an option reads it: `''` is a quote and, where backslash escapes
 * are on (E'' strings; every string with standard_conforming_strings off, as on Redshift), `\'` is one
 * too; other backslashes stay, because the options read them themselves (`DELIMITER '\t'`, `NULL AS
 * '\N'`, `'\0'`: copy-parameters-data-conversion.html).
 */
function stringValue(t: SqlToken, standardStrings = true): string {
  const text = t.text;
  if (/^[Ee]'/.test(text)) return decodeEscapes(text.slice(2, -1).replaceAll("''", "'"));
  const body = text.slice(1, -1).replaceAll("''", "'");
  return standardStrings ? body : body.replaceAll("\\'", "'");
}

/**
 * The value of a string holding SQL (UNLOAD's query), as the server reads a literal: with backslash
 * escapes on, `\'` and `\\` are decoded as Redshift's parser does before running the query
 * (r_UNLOAD.html: "If your query contains quotation marks … escape the quotation marks (\')").
 */
function literalValue(t: SqlToken, standardStrings: boolean): string {
  const text = t.text;
  if (/^[Ee]'/.test(text) || !standardStrings) {
    const body = text.slice(/^[Ee]'/.test(text) ? 2 : 1, -1).replaceAll("''", "'");
    return body.replace(/\\(['\\])/g, '$1');
  }
  return text.slice(1, -1).replaceAll("''", "'");
}

/** An identifier token's name: unquoted ones fold to lower case. */
function identName(t: SqlToken): string {
  if (t.type === 'qident') return t.text.slice(1, -1).replaceAll('""', '"');
  return t.text.toLowerCase();
}

/** Redshift's delimiter argument: one character, `'\t'`, or an octal `'\ddd'` (data-format page). */
function delimiterChar(raw: string): string {
  const oct = /^\\([0-7]{3})$/.exec(raw);
  if (oct) return String.fromCharCode(Number.parseInt(oct[1] as string, 8));
  const esc: Record<string, string> = { '\\t': '\t', '\\|': '|', '\\\\': '\\' };
  const c = esc[raw] ?? raw;
  if (c.length !== 1 || c.charCodeAt(0) > 127 || c === '\n' || c === '\r') {
    throw new S3StatementError('22023', 'DELIMITER must be a single ASCII character other than a line break');
  }
  return c;
}

/** A cursor over the significant tokens of a statement. */
class Tokens {
  private i = 0;
  constructor(
    readonly toks: SqlToken[],
    readonly standardStrings: boolean,
  ) {}
  peek(k = 0): SqlToken | undefined {
    return this.toks[this.i + k];
  }
  word(k = 0): string {
    const t = this.peek(k);
    return t?.type === 'word' ? t.text.toUpperCase() : '';
  }
  next(): SqlToken | undefined {
    return this.toks[this.i++];
  }
  done(): boolean {
    const t = this.peek();
    return t === undefined || (t.text === ';' && this.i === this.toks.length - 1);
  }
  /** Consumes an optional `AS`. */
  optionalAs(): void {
    if (this.word() === 'AS') this.i++;
  }
  string(what: string): string {
    const t = this.next();
    if (t?.type !== 'string') throw syntaxError(t, `${what} needs a quoted value`);
    return stringValue(t, this.standardStrings);
  }
  integer(what: string): number {
    const t = this.next();
    if (t?.type !== 'number' || !/^\d+$/.test(t.text)) throw syntaxError(t, `${what} needs a whole number`);
    return Number(t.text);
  }
}

function syntaxError(t: SqlToken | undefined, hint?: string): S3StatementError {
  const at = t
    ? `syntax error at or near "${t.type === 'string' ? "'…'" : t.text}"`
    : 'syntax error at end of input';
  return new S3StatementError('42601', hint ? `${at} (${hint})` : at);
}

function unsupported(what: string): S3StatementError {
  return new S3StatementError(
    '0A000',
    `${what} is not supported by the local S3 emulation (rsqlo runs text and CSV files)`,
  );
}

/** Options accepted and ignored: authorization, region, compression analysis, statistics (values skipped). */
function skipIgnored(t: Tokens, w: string): boolean {
  switch (w) {
    case 'IAM_ROLE':
      t.next();
      if (t.word() === 'DEFAULT') t.next();
      else t.string('IAM_ROLE');
      return true;
    case 'CREDENTIALS':
    case 'REGION':
      t.next();
      t.optionalAs();
      t.string(w);
      return true;
    case 'ACCESS_KEY_ID':
    case 'SECRET_ACCESS_KEY':
    case 'SESSION_TOKEN':
    case 'KMS_KEY_ID':
      t.next();
      t.string(w);
      return true;
    case 'WITH':
      // WITH CREDENTIALS …
      if (t.word(1) === 'CREDENTIALS') {
        t.next();
        return skipIgnored(t, 'CREDENTIALS');
      }
      return false;
    case 'COMPROWS':
      t.next();
      t.integer(w);
      return true;
    case 'COMPUPDATE':
    case 'STATUPDATE':
      t.next();
      if (['PRESET', 'ON', 'TRUE', 'OFF', 'FALSE'].includes(t.word())) t.next();
      return true;
    default:
      return false;
  }
}

/** Reads `COPY`'s table name and column list; the tokens are at the table name. */
function tableAndColumns(t: Tokens): { table: string; columns: string[] | undefined } {
  const parts: string[] = [];
  for (;;) {
    const id = t.next();
    if (id?.type !== 'word' && id?.type !== 'qident') throw syntaxError(id, 'a table name');
    parts.push(id.text);
    if (t.peek()?.text !== '.') break;
    t.next();
  }
  let columns: string[] | undefined;
  if (t.peek()?.text === '(') {
    t.next();
    columns = [];
    for (;;) {
      const c = t.next();
      if (c?.type !== 'word' && c?.type !== 'qident') throw syntaxError(c, 'a column name');
      columns.push(identName(c));
      const sep = t.next();
      if (sep?.text === ')') break;
      if (sep?.text !== ',') throw syntaxError(sep);
    }
  }
  return { table: parts.join('.'), columns };
}

/** The statement's significant tokens, or undefined when its first word is not `kw`. */
function significantTokens(sql: string, kw: string, standardStrings: boolean): SqlToken[] | undefined {
  const toks = tokenizeSql(sql, standardStrings).filter(significant);
  const first = toks[0];
  return first?.type === 'word' && first.text.toUpperCase() === kw ? toks : undefined;
}

/**
 * A `COPY … FROM 's3://…'` statement's options; undefined when the statement is not a COPY from S3.
 * Throws {@link S3StatementError} for a malformed or unsupported one.
 */
export function parseCopy(sql: string, standardStrings = true): CopyCommand | undefined {
  const toks = significantTokens(sql, 'COPY', standardStrings);
  if (!toks) return undefined;
  const from = toks.findIndex((x) => x.type === 'word' && x.text.toUpperCase() === 'FROM');
  const src = from >= 0 ? toks[from + 1] : undefined;
  if (src?.type !== 'string' || !/^s3:\/\//i.test(stringValue(src, standardStrings))) return undefined;
  const t = new Tokens(toks, standardStrings);
  t.next(); // COPY
  const { table, columns } = tableAndColumns(t);
  if (t.word() !== 'FROM') throw syntaxError(t.peek());
  t.next();
  const source = t.string('FROM');
  const c: CopyCommand = {
    kind: 'copy',
    table,
    columns,
    source,
    manifest: false,
    csv: false,
    delimiter: '|',
    quote: '"',
    escape: false,
    nullAs: undefined,
    gzip: false,
    ignoreHeader: 0,
    emptyAsNull: false,
    blanksAsNull: false,
    dateFormat: undefined,
    timeFormat: undefined,
    maxError: 0,
    ignoreAllErrors: false,
    removeQuotes: false,
    fillRecord: false,
    ignoreBlankLines: false,
    trimBlanks: false,
    truncateColumns: false,
    roundDec: false,
    acceptAnyDate: false,
    acceptInvChars: undefined,
    explicitIds: false,
    noLoad: false,
  };
  let delimiterGiven = false;
  let maxErrorGiven = false;
  while (!t.done()) {
    if (t.peek()?.text === ',') {
      t.next();
      continue;
    }
    const w = t.word();
    if (skipIgnored(t, w)) continue;
    t.next();
    switch (w) {
      case 'MANIFEST':
        c.manifest = true;
        break;
      case 'FORMAT': {
        t.optionalAs();
        const f = t.word();
        if (f !== 'CSV') throw unsupported(`FORMAT ${f || 'AS …'}`);
        t.next();
        c.csv = true;
        readQuote(t, c);
        break;
      }
      case 'CSV':
        c.csv = true;
        readQuote(t, c);
        break;
      case 'DELIMITER':
        t.optionalAs();
        c.delimiter = delimiterChar(t.string('DELIMITER'));
        delimiterGiven = true;
        break;
      case 'GZIP':
        c.gzip = true;
        break;
      case 'IGNOREHEADER':
        t.optionalAs();
        c.ignoreHeader = t.integer('IGNOREHEADER');
        break;
      case 'EMPTYASNULL':
        c.emptyAsNull = true;
        break;
      case 'BLANKSASNULL':
        c.blanksAsNull = true;
        break;
      case 'NULL':
        if (t.word() !== 'AS') throw syntaxError(t.peek(), 'NULL AS');
        t.next();
        c.nullAs = nullString(t.string('NULL AS'));
        break;
      case 'DATEFORMAT':
        t.optionalAs();
        c.dateFormat = t.string('DATEFORMAT');
        break;
      case 'TIMEFORMAT':
        t.optionalAs();
        c.timeFormat = t.string('TIMEFORMAT');
        break;
      case 'MAXERROR':
        t.optionalAs();
        c.maxError = t.integer('MAXERROR');
        if (c.maxError > MAXERROR_LIMIT) {
          throw new S3StatementError('22023', `MAXERROR must be between 0 and ${MAXERROR_LIMIT}`);
        }
        maxErrorGiven = true;
        break;
      case 'IGNOREALLERRORS':
        c.ignoreAllErrors = true;
        break;
      case 'ESCAPE':
        c.escape = true;
        break;
      case 'REMOVEQUOTES':
        c.removeQuotes = true;
        break;
      case 'FILLRECORD':
        c.fillRecord = true;
        break;
      case 'IGNOREBLANKLINES':
        c.ignoreBlankLines = true;
        break;
      case 'TRIMBLANKS':
        c.trimBlanks = true;
        break;
      case 'TRUNCATECOLUMNS':
        c.truncateColumns = true;
        break;
      case 'ROUNDEC':
        c.roundDec = true;
        break;
      case 'ACCEPTANYDATE':
        c.acceptAnyDate = true;
        break;
      case 'ACCEPTINVCHARS': {
        t.optionalAs();
        let r = '?';
        if (t.peek()?.type === 'string') r = t.string('ACCEPTINVCHARS');
        if (r.length !== 1 || r.charCodeAt(0) > 127 || r === '\0') {
          throw new S3StatementError('22023', 'ACCEPTINVCHARS needs one ASCII character other than NUL');
        }
        c.acceptInvChars = r;
        break;
      }
      case 'EXPLICIT_IDS':
        c.explicitIds = true;
        break;
      case 'NOLOAD':
        c.noLoad = true;
        break;
      case 'ENCODING': {
        t.optionalAs();
        const e = t.word();
        t.next();
        if (e !== 'UTF8') throw unsupported(`ENCODING ${e}`);
        break;
      }
      case 'JSON':
      case 'AVRO':
      case 'PARQUET':
      case 'ORC':
      case 'SHAPEFILE':
      case 'FIXEDWIDTH':
      case 'BZIP2':
      case 'LZOP':
      case 'ZSTD':
      case 'ENCRYPTED':
      case 'MASTER_SYMMETRIC_KEY':
      case 'READRATIO':
      case 'SSH':
        throw unsupported(w);
      default:
        throw syntaxError(t.peek(-1));
    }
  }
  if (c.csv && !delimiterGiven) c.delimiter = ',';
  if (c.csv && (c.removeQuotes || c.escape)) {
    throw new S3StatementError('42601', 'CSV cannot be used with REMOVEQUOTES or ESCAPE');
  }
  if (c.ignoreAllErrors && maxErrorGiven) {
    throw new S3StatementError('42601', 'IGNOREALLERRORS cannot be used with MAXERROR');
  }
  return c;
}

function readQuote(t: Tokens, c: CopyCommand | UnloadCommand): void {
  if (t.word() !== 'QUOTE') return;
  t.next();
  t.optionalAs();
  const q = t.string('QUOTE');
  if (q.length !== 1 || q.charCodeAt(0) > 127)
    throw new S3StatementError('22023', 'QUOTE must be one ASCII character');
  c.quote = q;
}

/** NULL AS `'\0'` / `'\000'` stand for the NUL character (data-conversion page). */
function nullString(s: string): string {
  return s === '\\0' || s === '\\000' ? '\0' : s;
}

/**
 * An `UNLOAD` statement's options; undefined when the statement is not an UNLOAD.
 * Throws {@link S3StatementError} for a malformed or unsupported one.
 */
export function parseUnload(sql: string, standardStrings = true): UnloadCommand | undefined {
  const toks = significantTokens(sql, 'UNLOAD', standardStrings);
  if (!toks) return undefined;
  const t = new Tokens(toks, standardStrings);
  t.next(); // UNLOAD
  if (t.peek()?.text !== '(') throw syntaxError(t.peek(), "UNLOAD ('select …')");
  t.next();
  const q = t.next();
  if (q?.type !== 'string') throw syntaxError(q, "UNLOAD ('select …')");
  const query = literalValue(q, standardStrings);
  if (t.next()?.text !== ')') throw syntaxError(t.peek(-1), "UNLOAD ('select …')");
  if (t.word() !== 'TO') throw syntaxError(t.peek(), "TO 's3://…'");
  t.next();
  const target = t.string('TO');
  if (!/^s3:\/\//i.test(target))
    throw new S3StatementError('22023', "UNLOAD writes to 's3://bucket/prefix' only");
  const u: UnloadCommand = {
    kind: 'unload',
    query,
    target,
    csv: false,
    delimiter: '|',
    quote: '"',
    escape: false,
    nullAs: undefined,
    gzip: false,
    header: false,
    addQuotes: false,
    allowOverwrite: false,
    cleanPath: false,
    parallel: true,
    manifest: false,
    manifestVerbose: false,
    maxFileSize: UNLOAD_MAX_FILE_SIZE,
    extension: undefined,
    fixedWidth: undefined,
  };
  let delimiterGiven = false;
  while (!t.done()) {
    if (t.peek()?.text === ',') {
      t.next();
      continue;
    }
    const w = t.word();
    if (skipIgnored(t, w)) continue;
    t.next();
    switch (w) {
      case 'FORMAT': {
        t.optionalAs();
        const f = t.word();
        if (f !== 'CSV') throw unsupported(`FORMAT ${f || 'AS …'}`);
        t.next();
        u.csv = true;
        break;
      }
      case 'CSV':
        u.csv = true;
        break;
      case 'MANIFEST':
        u.manifest = true;
        if (t.word() === 'VERBOSE') {
          t.next();
          u.manifestVerbose = true;
        }
        break;
      case 'HEADER':
        u.header = true;
        break;
      case 'DELIMITER':
        t.optionalAs();
        u.delimiter = delimiterChar(t.string('DELIMITER'));
        delimiterGiven = true;
        break;
      case 'FIXEDWIDTH': {
        t.optionalAs();
        u.fixedWidth = fixedWidthSpec(t.string('FIXEDWIDTH'));
        break;
      }
      case 'GZIP':
        u.gzip = true;
        break;
      case 'ADDQUOTES':
        u.addQuotes = true;
        break;
      case 'NULL':
        t.optionalAs();
        u.nullAs = t.string('NULL AS');
        break;
      case 'ESCAPE':
        u.escape = true;
        break;
      case 'ALLOWOVERWRITE':
        u.allowOverwrite = true;
        break;
      case 'CLEANPATH':
        u.cleanPath = true;
        break;
      case 'PARALLEL': {
        const v = t.word();
        if (['ON', 'TRUE'].includes(v)) {
          t.next();
          u.parallel = true;
        } else if (['OFF', 'FALSE'].includes(v)) {
          t.next();
          u.parallel = false;
        } else u.parallel = true;
        break;
      }
      case 'MAXFILESIZE': {
        t.optionalAs();
        const n = t.next();
        if (n?.type !== 'number' || !/^\d+(\.\d+)?$/.test(n.text))
          throw syntaxError(n, 'MAXFILESIZE needs a size');
        let unit = 1024 ** 2;
        if (t.word() === 'MB') t.next();
        else if (t.word() === 'GB') {
          t.next();
          unit = 1024 ** 3;
        }
        const bytes = Math.round(Number(n.text) * unit);
        if (bytes < 5 * 1024 ** 2 || bytes > UNLOAD_MAX_FILE_SIZE) {
          throw new S3StatementError('22023', 'MAXFILESIZE must be between 5 MB and 6.2 GB');
        }
        u.maxFileSize = bytes;
        break;
      }
      case 'EXTENSION':
        u.extension = t.string('EXTENSION').replace(/^\./, '');
        break;
      case 'ENCRYPTED':
        // S3 server-side encryption is transparent to readers: nothing to do locally
        if (t.word() === 'AUTO') t.next();
        break;
      case 'PARQUET':
      case 'JSON':
      case 'PARTITION':
      case 'BZIP2':
      case 'ZSTD':
      case 'MASTER_SYMMETRIC_KEY':
      case 'ROWGROUPSIZE':
        throw unsupported(w);
      default:
        throw syntaxError(t.peek(-1));
    }
  }
  if (u.csv && !delimiterGiven) u.delimiter = ',';
  if (u.csv && (u.fixedWidth || u.addQuotes)) {
    throw new S3StatementError('42601', 'CSV cannot be used with FIXEDWIDTH or ADDQUOTES');
  }
  if (u.fixedWidth && (delimiterGiven || u.header)) {
    throw new S3StatementError('42601', 'FIXEDWIDTH cannot be used with DELIMITER or HEADER');
  }
  if (u.cleanPath && u.allowOverwrite) {
    throw new S3StatementError('42601', 'CLEANPATH cannot be used with ALLOWOVERWRITE');
  }
  return u;
}

/** `'colID1:colWidth1,colID2:colWidth2, …'` */
function fixedWidthSpec(spec: string): { label: string; width: number }[] {
  const out: { label: string; width: number }[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*([^:]+?)\s*:\s*(\d+)\s*$/.exec(part);
    if (!m || Number(m[2]) === 0) throw new S3StatementError('22023', `invalid FIXEDWIDTH spec "${spec}"`);
    out.push({ label: m[1] as string, width: Number(m[2]) });
  }
  return out;
}

/** Options whose value is a secret (r_COPY.html authorization parameters, r_UNLOAD.html encryption). */
const SECRET_OPTIONS = new Set([
  'CREDENTIALS',
  'ACCESS_KEY_ID',
  'SECRET_ACCESS_KEY',
  'SESSION_TOKEN',
  'MASTER_SYMMETRIC_KEY',
]);

/**
 * The statement with the values of its secret options replaced by `'***'`, for echoing it (`-e`,
 * ECHO=queries): the runner's output goes to job logs, where a key must never land.
 */
export function redactSecrets(sql: string, standardStrings = true): string {
  const toks = tokenizeSql(sql, standardStrings);
  let armed = false;
  let changed = false;
  for (const t of toks) {
    if (!significant(t)) continue;
    if (t.type === 'word' && SECRET_OPTIONS.has(t.text.toUpperCase())) armed = true;
    else if (armed && t.type === 'string') {
      t.text = "'***'";
      armed = false;
      changed = true;
    } else if (!(t.type === 'word' && t.text.toUpperCase() === 'AS')) armed = false;
  }
  return changed ? toks.map((t) => t.text).join('') : sql;
}
