/**
 * The runner's half of the Redshift dialect: token-aware rewrites of syntax PostgreSQL cannot define as
 * functions (the installed half is sql.ts). Called from compat.ts for every statement when the
 * compatibility layer is on. String literals, quoted identifiers, dollar quotes and comments are never
 * changed; a qualified name (`x.nvl(`) is never taken for a Redshift function.
 *
 * Expressions (anywhere in a statement, nested included):
 * - `NVL(a, b, …)` → `COALESCE(a, b, …)` (mixed literal types resolve as COALESCE's do; column "coalesce")
 * - `DECODE(e, s1, r1, …[, d])` → `CASE e WHEN s1 THEN r1 … ELSE d END` (a NULL search matches NULL)
 * - `LISTAGG([DISTINCT] x [, d]) [WITHIN GROUP (ORDER BY o)] [OVER (PARTITION BY p)]` → the installed
 *   `listagg(x, d, distinct ORDER BY o)` aggregate, or as a window over the whole ordered partition
 * - `DATEADD(part, n, x)`, `DATEDIFF(part, a, b)`, `DATE_PART(part, x)`: a bare date part becomes a string
 *   and the function the one named as Redshift names the result column (date_add, date_diff, pgdate_part)
 * - `EXTRACT(part FROM x)` → `date_part('part', x, true)` (Redshift's integer parts)
 * - `APPROXIMATE COUNT(DISTINCT x)` → `COUNT(DISTINCT x)` (exact)
 * - `SYSDATE`, `GETDATE()` → the transaction / statement start as TIMESTAMP (column "timestamp")
 * - `REGEXP_COUNT|INSTR|SUBSTR|REPLACE(`, `JSON_SERIALIZE(` → the Redshift versions in schema rsqlo_redshift
 * - `VARCHAR(MAX)` → `VARCHAR(65535)`, `CHAR(MAX)` → `CHAR(4096)`, `NVARCHAR` → `VARCHAR`
 *
 * Statements:
 * - `CREATE TABLE` / `ALTER TABLE … ADD [COLUMN]` column types: `TEXT` → `VARCHAR(256)`, `VARCHAR`
 *   without a length → `VARCHAR(256)`, `BPCHAR` → `CHAR(256)`, `NVARCHAR` → `VARCHAR(256)`
 * - `VACUUM [FULL|SORT ONLY|DELETE ONLY|REINDEX|RECLUSTER] [t] [TO n PERCENT] [BOOST]` → `VACUUM [t]`
 * - `ANALYZE COMPRESSION [t [(cols)]] [COMPROWS n]` → a SELECT of the report's columns
 * - `GRANT … DROP …`: the DROP privilege (PostgreSQL has none) is left out
 */
import type { SqlToken } from '../compat.js';
import { HELPER_SCHEMA } from './names.js';

type Node =
  | { kind: 'tok'; tok: SqlToken }
  | { kind: 'group'; items: Node[]; closed: boolean }
  | { kind: 'raw'; text: string };

/** Words whose presence means a statement may need rewriting (a cheap test before tokenizing). */
const TRIGGER =
  /nvl|decode|listagg|date_?add|date_?diff|date_part|extract|approximate|\bmax\b|sysdate|getdate|regexp_|json_serialize|vacuum|analyze|grant|create|alter|nvarchar|bpchar/i;

/** True when `sql` may contain something this module rewrites. */
export function mayNeedRedshiftRewrite(sql: string): boolean {
  return TRIGGER.test(sql);
}

function isSig(n: Node | undefined): boolean {
  if (!n) return false;
  if (n.kind !== 'tok') return true;
  return n.tok.type !== 'space' && n.tok.type !== 'comment';
}

function word(n: Node | undefined): string {
  return n?.kind === 'tok' && n.tok.type === 'word' ? n.tok.text.toUpperCase() : '';
}

function punct(n: Node | undefined, p: string): boolean {
  return n?.kind === 'tok' && n.tok.type === 'punct' && n.tok.text === p;
}

function text(nodes: readonly Node[]): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'tok') out += n.tok.text;
    else if (n.kind === 'raw') out += n.text;
    else out += `(${text(n.items)}${n.closed ? ')' : ''}`;
  }
  return out;
}

function parse(toks: readonly SqlToken[]): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  const groups: Extract<Node, { kind: 'group' }>[] = [];
  for (const tok of toks) {
    const top = stack[stack.length - 1] as Node[];
    if (tok.type === 'punct' && tok.text === '(') {
      const g: Extract<Node, { kind: 'group' }> = { kind: 'group', items: [], closed: false };
      top.push(g);
      stack.push(g.items);
      groups.push(g);
    } else if (tok.type === 'punct' && tok.text === ')' && stack.length > 1) {
      const g = groups.pop();
      if (g) g.closed = true;
      stack.pop();
    } else {
      top.push({ kind: 'tok', tok });
    }
  }
  return root;
}

/** Index of the next significant node after i (or -1). */
function next(items: readonly Node[], i: number): number {
  for (let p = i + 1; p < items.length; p++) if (isSig(items[p])) return p;
  return -1;
}

function prev(items: readonly Node[], i: number): number {
  for (let p = i - 1; p >= 0; p--) if (isSig(items[p])) return p;
  return -1;
}

/** Top-level comma-separated parts of a group's items, as trimmed text. */
function args(items: readonly Node[]): string[] {
  const out: string[] = [];
  let cur: Node[] = [];
  for (const n of items) {
    if (punct(n, ',')) {
      out.push(text(cur).trim());
      cur = [];
    } else cur.push(n);
  }
  if (cur.length > 0 || out.length > 0) out.push(text(cur).trim());
  return out;
}

/** The items of one argument (top-level comma split), as node lists. */
function argNodes(items: readonly Node[]): Node[][] {
  const out: Node[][] = [[]];
  for (const n of items) {
    if (punct(n, ',')) out.push([]);
    else (out[out.length - 1] as Node[]).push(n);
  }
  return out;
}

function sigOf(nodes: readonly Node[]): Node[] {
  return nodes.filter(isSig);
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A bare date part word becomes a string literal; anything else is kept. */
function datePartArg(nodes: readonly Node[]): string {
  const sig = sigOf(nodes);
  const only = sig[0];
  if (sig.length === 1 && only?.kind === 'tok' && only.tok.type === 'word')
    return quoteLiteral(only.tok.text.toLowerCase());
  return text(nodes).trim();
}

const CHAR_TYPES = new Set(['VARCHAR', 'NVARCHAR', 'CHAR', 'NCHAR', 'CHARACTER', 'BPCHAR', 'VARYING']);

interface Ctx {
  changes: string[];
}

/** Rewrites one list of sibling nodes (children first). */
function transform(items: Node[], ctx: Ctx): Node[] {
  for (const n of items) if (n.kind === 'group') n.items = transform(n.items, ctx);
  const out: Node[] = [];
  for (let i = 0; i < items.length; i++) {
    const n = items[i] as Node;
    const w = word(n);
    if (!w) {
      out.push(n);
      continue;
    }
    const p = prev(items, i);
    const qualified = p >= 0 && punct(items[p], '.');
    const afterAs = p >= 0 && word(items[p]) === 'AS';
    const g = next(items, i);
    const group =
      g >= 0 && items[g]?.kind === 'group' ? (items[g] as Extract<Node, { kind: 'group' }>) : undefined;
    if (qualified) {
      out.push(n);
      continue;
    }
    if (w === 'SYSDATE' && !group && !afterAs) {
      out.push({ kind: 'raw', text: 'pg_catalog."timestamp"(transaction_timestamp())' });
      ctx.changes.push('SYSDATE → transaction start');
      continue;
    }
    if (w === 'APPROXIMATE' && word(items[g]) === 'COUNT') {
      ctx.changes.push('APPROXIMATE COUNT → COUNT');
      i = g - 1; // drop APPROXIMATE and the blank after it
      continue;
    }
    if (CHAR_TYPES.has(w) && group) {
      const inner = sigOf(group.items);
      if (inner.length === 1 && word(inner[0]) === 'MAX') {
        const charLike = w === 'CHAR' || w === 'NCHAR' || w === 'CHARACTER' || w === 'BPCHAR';
        out.push({
          kind: 'raw',
          text: `${w === 'NVARCHAR' ? 'varchar' : n.kind === 'tok' ? n.tok.text : w}(${charLike ? 4096 : 65535})`,
        });
        ctx.changes.push(`${w}(MAX) → ${charLike ? 4096 : 65535}`);
        i = g;
        continue;
      }
    }
    if (w === 'NVARCHAR') {
      out.push({ kind: 'raw', text: 'varchar' });
      ctx.changes.push('NVARCHAR → VARCHAR');
      continue;
    }
    if (!group) {
      out.push(n);
      continue;
    }
    const gap = text(items.slice(i + 1, g));
    switch (w) {
      case 'NVL':
        out.push({ kind: 'raw', text: `COALESCE${gap}` }, group);
        ctx.changes.push('NVL → COALESCE');
        i = g;
        continue;
      case 'DECODE': {
        const a = args(group.items);
        if (a.length < 3) break;
        out.push({ kind: 'raw', text: decodeToCase(a) });
        ctx.changes.push('DECODE → CASE');
        i = g;
        continue;
      }
      case 'LISTAGG': {
        const r = listagg(items, group, g);
        if (!r) break;
        out.push({ kind: 'raw', text: r.text });
        ctx.changes.push('LISTAGG → listagg aggregate');
        i = r.end;
        continue;
      }
      case 'DATEADD':
      case 'DATEDIFF':
      case 'DATE_PART':
      case 'PGDATE_PART': {
        const parts = argNodes(group.items);
        if (parts.length < 2) break;
        const name = w === 'DATEADD' ? 'date_add' : w === 'DATEDIFF' ? 'date_diff' : 'pgdate_part';
        const rest = parts.slice(1).map((x) => text(x));
        out.push({
          kind: 'raw',
          text: `${name}${gap}(${[datePartArg(parts[0] as Node[]), ...rest].join(',')})`,
        });
        ctx.changes.push(`${w} → ${name}`);
        i = g;
        continue;
      }
      case 'EXTRACT': {
        const from = group.items.findIndex((x) => word(x) === 'FROM');
        if (from < 0) break;
        const partNodes = sigOf(group.items.slice(0, from));
        const part = partNodes[0];
        if (
          partNodes.length !== 1 ||
          part?.kind !== 'tok' ||
          (part.tok.type !== 'word' && part.tok.type !== 'string')
        )
          break;
        const partText = part.tok.type === 'word' ? quoteLiteral(part.tok.text.toLowerCase()) : part.tok.text;
        out.push({
          kind: 'raw',
          text: `date_part(${partText}, ${text(group.items.slice(from + 1)).trim()}, true)`,
        });
        ctx.changes.push('EXTRACT → date_part(…, true)');
        i = g;
        continue;
      }
      case 'GETDATE':
        if (sigOf(group.items).length !== 0) break;
        out.push({
          kind: 'raw',
          text: `pg_catalog."timestamp"(date_trunc('second', statement_timestamp()))`,
        });
        ctx.changes.push('GETDATE() → statement start');
        i = g;
        continue;
      case 'REGEXP_COUNT':
      case 'REGEXP_INSTR':
      case 'REGEXP_SUBSTR':
      case 'REGEXP_REPLACE':
      case 'JSON_SERIALIZE':
        out.push({ kind: 'raw', text: `${HELPER_SCHEMA}.${w.toLowerCase()}` });
        ctx.changes.push(`${w} → ${HELPER_SCHEMA}.${w.toLowerCase()}`);
        continue;
    }
    out.push(n);
  }
  return out;
}

function decodeToCase(a: string[]): string {
  const [e, ...rest] = a;
  const pairs: [string, string][] = [];
  let i = 0;
  for (; i + 1 < rest.length; i += 2) pairs.push([rest[i] as string, rest[i + 1] as string]);
  const dflt = i < rest.length ? rest[i] : undefined;
  const isNull = (s: string) => /^null$/i.test(s);
  const tail = `${dflt !== undefined ? ` ELSE ${dflt}` : ''} END`;
  if (!pairs.some(([s]) => isNull(s))) {
    return `CASE ${e} ${pairs.map(([s, r]) => `WHEN ${s} THEN ${r}`).join(' ')}${tail}`;
  }
  return `CASE ${pairs.map(([s, r]) => (isNull(s) ? `WHEN (${e}) IS NULL THEN ${r}` : `WHEN (${e}) = (${s}) THEN ${r}`)).join(' ')}${tail}`;
}

function listagg(
  items: Node[],
  group: Extract<Node, { kind: 'group' }>,
  g: number,
): { text: string; end: number } | undefined {
  const parts = argNodes(group.items);
  if (parts.length < 1 || parts.length > 2) return undefined;
  let first = parts[0] as Node[];
  let distinct = false;
  const firstSig = first.findIndex(isSig);
  if (firstSig >= 0 && word(first[firstSig]) === 'DISTINCT') {
    distinct = true;
    first = first.slice(firstSig + 1);
  } else if (firstSig >= 0 && word(first[firstSig]) === 'ALL') {
    first = first.slice(firstSig + 1);
  }
  const expr = text(first).trim();
  const delim = parts.length === 2 ? text(parts[1] as Node[]).trim() : "''";
  let end = g;
  let orderBy: string | undefined;
  const w1 = next(items, g);
  const w2 = w1 >= 0 ? next(items, w1) : -1;
  const w3 = w2 >= 0 ? next(items, w2) : -1;
  if (word(items[w1]) === 'WITHIN' && word(items[w2]) === 'GROUP' && items[w3]?.kind === 'group') {
    const wg = items[w3] as Extract<Node, { kind: 'group' }>;
    const sig = sigOf(wg.items);
    if (word(sig[0]) !== 'ORDER' || word(sig[1]) !== 'BY') return undefined;
    const byAt = wg.items.indexOf(sig[1] as Node);
    orderBy = text(wg.items.slice(byAt + 1)).trim();
    end = w3;
  }
  const call = `listagg(${expr}, ${delim}, ${distinct ? 'true' : 'false'}`;
  const o1 = next(items, end);
  const o2 = o1 >= 0 ? next(items, o1) : -1;
  if (word(items[o1]) === 'OVER' && items[o2]?.kind === 'group') {
    const og = items[o2] as Extract<Node, { kind: 'group' }>;
    let inner = text(og.items).trim();
    const hasOrder = sigOf(og.items).some((x) => word(x) === 'ORDER');
    if (orderBy !== undefined && !hasOrder) {
      inner = `${inner ? `${inner} ` : ''}ORDER BY ${orderBy} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING`;
    }
    return { text: `${call}) OVER (${inner})`, end: o2 };
  }
  return { text: `${call}${orderBy !== undefined ? ` ORDER BY ${orderBy}` : ''})`, end };
}

// ---------------------------------------------------------------------------------------------------------
// Statement-level rewrites

function sigWords(items: readonly Node[]): Node[] {
  return items.filter(isSig);
}

/** CREATE TABLE column list / ALTER TABLE ADD COLUMN: Redshift's implicit lengths. */
function columnTypes(items: Node[], ctx: Ctx): void {
  const sig = sigWords(items);
  const kw0 = word(sig[0]);
  if (kw0 === 'CREATE') {
    let s = 1;
    if (word(sig[s]) === 'LOCAL' || word(sig[s]) === 'GLOBAL') s++;
    if (word(sig[s]) === 'TEMP' || word(sig[s]) === 'TEMPORARY') s++;
    if (word(sig[s]) === 'UNLOGGED') s++;
    if (word(sig[s]) !== 'TABLE') return;
    const list = sig.slice(s + 1).find((x) => x.kind === 'group');
    const asAt = sig.findIndex((x) => word(x) === 'AS');
    if (list?.kind !== 'group') return;
    if (asAt >= 0 && sig.indexOf(list) > asAt) return;
    const elements = argNodes(list.items);
    for (const el of elements) fixColumnElement(el, ctx);
    list.items = elements.flatMap((el, k) =>
      k === 0 ? el : [{ kind: 'tok', tok: { type: 'punct', text: ',' } } as Node, ...el],
    );
    return;
  }
  if (kw0 === 'ALTER' && word(sig[1]) === 'TABLE') {
    // … ADD [COLUMN] name type
    for (let k = 2; k < sig.length; k++) {
      if (word(sig[k]) !== 'ADD') continue;
      const start = word(sig[k + 1]) === 'COLUMN' ? k + 2 : k + 1;
      const first = word(sig[start]);
      if (['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'FOREIGN', 'CHECK'].includes(first)) continue;
      const at = items.indexOf(sig[start] as Node);
      fixColumnElement(items.slice(at), ctx, items, at);
    }
  }
}

const NOT_COLUMNS = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'FOREIGN', 'CHECK', 'LIKE', 'EXCLUDE']);

/** Element = [name, type, …]; edits the type node in place (in `owner` when given, else in `el`). */
function fixColumnElement(el: Node[], ctx: Ctx, owner?: Node[], offset = 0): void {
  const sig = el.filter(isSig);
  if (sig.length < 2 || NOT_COLUMNS.has(word(sig[0]))) return;
  const typeNode = sig[1] as Node;
  const t = word(typeNode);
  const idx = el.indexOf(typeNode);
  const after = sig[2];
  const hasLength = after?.kind === 'group';
  const arrayType = punct(after, '[');
  if (arrayType) return;
  let replacement: string | undefined;
  let span = 1;
  if (t === 'TEXT' && !hasLength) replacement = 'varchar(256)';
  else if ((t === 'VARCHAR' || t === 'NVARCHAR') && !hasLength) replacement = 'varchar(256)';
  else if (t === 'BPCHAR' && !hasLength) replacement = 'char(256)';
  else if ((t === 'CHARACTER' || t === 'NCHAR') && word(after) === 'VARYING') {
    const g = sig[3];
    if (g?.kind !== 'group') {
      replacement = 'varchar(256)';
      span = el.indexOf(after as Node) - idx + 1;
    }
  }
  if (replacement === undefined) return;
  const target = owner ?? el;
  const at = owner ? offset + idx : idx;
  target.splice(at, span, { kind: 'raw', text: replacement });
  ctx.changes.push(`${t} → ${replacement}`);
}

function rewriteVacuum(items: Node[], ctx: Ctx): string | undefined {
  const sig = sigWords(items).filter((x) => !punct(x, ';'));
  if (word(sig[0]) !== 'VACUUM') return undefined;
  let k = 1;
  const mode = word(sig[k]);
  if (mode === 'FULL' || mode === 'REINDEX' || mode === 'RECLUSTER') k++;
  else if ((mode === 'SORT' || mode === 'DELETE') && word(sig[k + 1]) === 'ONLY') k += 2;
  // PostgreSQL's own VACUUM options in parentheses, VERBOSE, ANALYZE …: leave the statement alone
  if (sig[k]?.kind === 'group' || ['VERBOSE', 'ANALYZE', 'FREEZE'].includes(word(sig[k]))) return undefined;
  const nameParts: string[] = [];
  while (k < sig.length && word(sig[k]) !== 'TO' && word(sig[k]) !== 'BOOST') {
    const x = sig[k] as Node;
    nameParts.push(text([x]));
    k++;
  }
  let threshold: string | undefined;
  if (word(sig[k]) === 'TO') {
    threshold = text([sig[k + 1] as Node]);
    if (word(sig[k + 2]) !== 'PERCENT') return undefined;
    k += 3;
  }
  if (word(sig[k]) === 'BOOST') k++;
  if (k !== sig.length) return undefined;
  const table = nameParts.join('');
  if (threshold !== undefined) {
    const n = Number(threshold);
    const fail = (msg: string) =>
      `DO $rsqlo$ BEGIN RAISE EXCEPTION '${msg.replace(/'/g, "''")}' USING ERRCODE = '42601'; END $rsqlo$`;
    if (mode === 'REINDEX' || mode === 'RECLUSTER')
      return fail(`VACUUM ${mode} isn't supported with TO threshold PERCENT`);
    if (!table) return fail('VACUUM TO threshold PERCENT needs a table name');
    if (!Number.isInteger(n) || n < 0 || n > 100)
      return fail(`VACUUM threshold must be an integer between 0 and 100, not ${threshold}`);
  }
  ctx.changes.push('VACUUM options dropped');
  return table ? `VACUUM ${table}` : 'VACUUM';
}

function rewriteAnalyzeCompression(items: Node[], ctx: Ctx): string | undefined {
  const sig = sigWords(items).filter((x) => !punct(x, ';'));
  if (word(sig[0]) !== 'ANALYZE' || word(sig[1]) !== 'COMPRESSION') return undefined;
  let k = 2;
  const nameParts: string[] = [];
  while (k < sig.length && sig[k]?.kind !== 'group' && word(sig[k]) !== 'COMPROWS') {
    nameParts.push(text([sig[k] as Node]));
    k++;
  }
  let cols = 'NULL::text[]';
  const g = sig[k];
  if (g?.kind === 'group') {
    const names = argNodes(g.items).map((x) => {
      const s = sigOf(x)[0];
      if (s?.kind === 'tok' && s.tok.type === 'qident') return s.tok.text.slice(1, -1).replace(/""/g, '"');
      return text(x).trim().toLowerCase();
    });
    cols = `ARRAY[${names.map(quoteLiteral).join(', ')}]::text[]`;
    k++;
  }
  if (word(sig[k]) === 'COMPROWS') k += 2;
  if (k !== sig.length) return undefined;
  const table = nameParts.join('');
  ctx.changes.push('ANALYZE COMPRESSION → report query');
  return `SELECT * FROM ${HELPER_SCHEMA}.analyze_compression(${table ? quoteLiteral(table) : 'NULL'}, ${cols})`;
}

/** GRANT … DROP: PostgreSQL has no DROP privilege; the rest of the list is granted. */
function rewriteGrantDrop(items: Node[], ctx: Ctx): string | undefined {
  const sig = sigWords(items);
  if (word(sig[0]) !== 'GRANT' && word(sig[0]) !== 'REVOKE') return undefined;
  const on = sig.findIndex((x) => word(x) === 'ON');
  if (on < 0) return undefined;
  const privs = sig.slice(word(sig[1]) === 'GRANT' && word(sig[2]) === 'OPTION' ? 4 : 1, on);
  if (!privs.some((x) => word(x) === 'DROP')) return undefined;
  const kept: string[] = [];
  let cur: Node[] = [];
  const flush = () => {
    const t = text(cur).trim();
    if (t && !/^drop$/i.test(t)) kept.push(t);
    cur = [];
  };
  for (const x of privs) {
    if (punct(x, ',')) flush();
    else cur.push(x, { kind: 'raw', text: ' ' });
  }
  flush();
  ctx.changes.push('GRANT DROP left out');
  const head = text(items.slice(0, items.indexOf(privs[0] as Node)));
  const tail = text(items.slice(items.indexOf(sig[on] as Node)));
  if (kept.length === 0) {
    return `DO $rsqlo$ BEGIN RAISE NOTICE 'rsqlo: the DROP privilege has no PostgreSQL equivalent; nothing was granted'; END $rsqlo$`;
  }
  return `${head}${kept.join(', ')} ${tail}`;
}

/**
 * Applies every Redshift rewrite to one statement's tokens. Returns the new text, or undefined when
 * nothing changed.
 */
export function rewriteRedshiftTokens(
  toks: readonly SqlToken[],
): { sql: string; changes: string[] } | undefined {
  const ctx: Ctx = { changes: [] };
  let items = parse(toks);
  const whole =
    rewriteVacuum(items, ctx) ?? rewriteAnalyzeCompression(items, ctx) ?? rewriteGrantDrop(items, ctx);
  if (whole !== undefined) {
    const end = text(items).match(/\s*;\s*$/)?.[0] ?? '';
    return { sql: `${whole.replace(/\s*;\s*$/, '')}${end}`, changes: ctx.changes };
  }
  columnTypes(items, ctx);
  items = transform(items, ctx);
  if (ctx.changes.length === 0) return undefined;
  return { sql: text(items), changes: ctx.changes };
}
