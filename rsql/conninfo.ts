/**
 * Where a session connects: libpq-style connection parameters, the two ways a user writes them (a
 * `key=value` conninfo and a `postgres://` URI, on the command line, `-d` and `\connect`), pg's client
 * configuration built from them, and the psql-style text of a failed connection. Kept apart from the
 * session's protocol code: the command line, the interpreter and the local engine parse connection
 * strings without opening one.
 */
import type * as Pg from 'pg';
import type { ResponseFields } from './wire.js';

/** Where to connect (password from the caller: env RSPASSWORD/PGPASSWORD, never argv). */
export interface ConnectParams {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** libpq-style sslmode: disable/allow/prefer (no TLS), require (TLS, no verification), verify-ca/verify-full. */
  sslmode?: string;
  applicationName?: string;
  connectTimeoutSeconds?: number;
}

/** The connection string is not a valid libpq `key=value` conninfo. */
export class ConninfoError extends Error {
  override name = 'ConninfoError';
}

/**
 * Parses a libpq `key=value` conninfo (`host=h port=5432 dbname='my db' user=u`; values may be single-quoted
 * with `\\'` and `\\\\` escapes). Known keys: host/hostaddr, port, dbname, user, password, sslmode,
 * application_name, connect_timeout; others are ignored, like unknown-but-valid libpq options.
 */
export function parseConninfo(text: string): ConnectParams {
  const out: ConnectParams = {};
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i] as string)) i++;
    if (i >= n) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new ConninfoError(`missing "=" after "${text.slice(i)}" in connection info string`);
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    while (i < n && /\s/.test(text[i] as string)) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === "'") {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw new ConninfoError('unterminated quoted string in connection info string');
    } else {
      while (i < n && !/\s/.test(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
    }
    switch (key) {
      case 'host':
      case 'hostaddr':
        out.host = value;
        break;
      case 'port':
        if (!/^\d+$/.test(value)) throw new ConninfoError(`invalid port number: "${value}"`);
        out.port = Number(value);
        break;
      case 'dbname':
        out.database = value;
        break;
      case 'user':
        out.user = value;
        break;
      case 'password':
        out.password = value;
        break;
      case 'sslmode':
        out.sslmode = value;
        break;
      case 'application_name':
        out.applicationName = value;
        break;
      case 'connect_timeout':
        if (/^\d+$/.test(value)) out.connectTimeoutSeconds = Number(value);
        break;
      default:
        break;
    }
  }
  return out;
}

/**
 * Parses a `postgres://` / `postgresql://` URI (user, password, host, port, database, and the query
 * parameters host, port, dbname, user, password, sslmode, application_name, connect_timeout).
 */
export function parseConnectionUri(uri: string): ConnectParams {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ConninfoError(`invalid connection URI "${uri.replace(/:[^:@/]*@/, ':***@')}"`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConninfoError(`invalid connection URI scheme "${url.protocol}"`);
  }
  const out: ConnectParams = {};
  const dec = (v: string) => decodeURIComponent(v);
  if (url.hostname) out.host = dec(url.hostname.replace(/^\[(.*)\]$/, '$1'));
  if (url.port) out.port = Number(url.port);
  if (url.username) out.user = dec(url.username);
  if (url.password) out.password = dec(url.password);
  const db = url.pathname.replace(/^\//, '');
  if (db) out.database = dec(db);
  const q = url.searchParams;
  const extra = [...q.entries()]
    .map(([k, v]) => `${k}='${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)
    .join(' ');
  return extra ? { ...out, ...parseConninfo(extra) } : out;
}

/** Builds pg's client configuration from libpq-style parameters. */
export function clientConfig(p: ConnectParams): Pg.ClientConfig {
  const cfg: Pg.ClientConfig = { pipeline: true, application_name: p.applicationName ?? 'rsql' };
  if (p.host !== undefined) cfg.host = p.host;
  if (p.port !== undefined) cfg.port = p.port;
  if (p.user !== undefined) cfg.user = p.user;
  if (p.database !== undefined) cfg.database = p.database;
  // An empty password still fails authentication cleanly (pg rejects a missing one asynchronously).
  cfg.password = p.password ?? '';
  const mode = (p.sslmode ?? '').toLowerCase();
  if (mode === 'require') cfg.ssl = { rejectUnauthorized: false };
  else if (mode === 'verify-ca' || mode === 'verify-full') cfg.ssl = true;
  if (p.connectTimeoutSeconds) cfg.connectionTimeoutMillis = p.connectTimeoutSeconds * 1000;
  return cfg;
}

/** psql's text for a connection that could not be made (`connection to server at "h", port 5432 failed: …`). */
export function connectErrorText(e: unknown, p: ConnectParams): string {
  const err = e as ResponseFields & { code?: string; message?: string };
  const where = p.host?.startsWith('/')
    ? `socket "${p.host}"`
    : `server at "${p.host ?? 'localhost'}", port ${p.port ?? 5432}`;
  const msg = err?.message ?? String(e);
  if (err?.code === 'ECONNREFUSED') return `connection to ${where} failed: Connection refused`;
  if (err?.code === 'ENOTFOUND') return `could not translate host name "${p.host}" to address`;
  return `connection to ${where} failed: ${err?.severity ? `${err.severity}:  ` : ''}${msg}`;
}
