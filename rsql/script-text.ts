/**
 * Script bytes → text. A script must be UTF-8 text: a binary file (a wrong path, a compressed file) or a
 * file in another encoding is refused before anything in it runs, with a message that shows the offending
 * bytes escaped (`\xff\xfe`) — never the raw bytes, which would garble the terminal or the job log.
 * psql instead sends such lines to the server (which rejects them statement by statement, after the
 * statements before them ran) and echoes raw bytes in its messages.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The script is not UTF-8 text; the message names the line and shows the bytes escaped. */
export class ScriptEncodingError extends Error {
  override name = 'ScriptEncodingError';
}

/** How many bytes of the offending sequence a message shows. */
const SHOWN_BYTES = 8;

/** `\xNN` for each byte. */
function hexBytes(buf: Buffer, from: number, to: number): string {
  let out = '';
  for (let i = from; i < Math.min(to, buf.length); i++)
    out += `\\x${(buf[i] as number).toString(16).padStart(2, '0')}`;
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i` (1–4), or 0 when the bytes there are not valid UTF-8. */
export function utf8SequenceLength(buf: Buffer, i: number): number {
  const b = buf[i] as number;
  if (b < 0x80) return 1;
  let len: number;
  let min: number;
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2;
    min = 0x80;
  } else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    min = 0x800;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    min = 0x10000;
  } else return 0;
  if (i + len > buf.length) return 0;
  let cp = b & (0xff >> (len + 1));
  for (let k = 1; k < len; k++) {
    const c = buf[i + k] as number;
    if ((c & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

function lineOf(buf: Buffer, offset: number): number {
  let line = 1;
  for (let p = buf.indexOf(10); p >= 0 && p < offset; p = buf.indexOf(10, p + 1)) line++;
  return line;
}

/**
 * Decodes a script, refusing NUL bytes and invalid UTF-8 with a {@link ScriptEncodingError}
 * (`<name>:<line>: …`). A leading UTF-8 BOM is kept (the lexer skips it).
 */
export function decodeScript(buf: Buffer, name: string): string {
  const nul = buf.indexOf(0);
  if (isUtf8(buf) && nul < 0) return buf.toString('utf8');
  let bad = -1;
  let len = 0;
  for (let i = 0; i < buf.length; ) {
    const n = utf8SequenceLength(buf, i);
    if (n === 0) {
      bad = i;
      // show the whole broken sequence: the lead byte and the continuation bytes after it
      len = 1;
      while (len < SHOWN_BYTES && i + len < buf.length && ((buf[i + len] as number) & 0xc0) === 0x80) len++;
      break;
    }
    i += n;
  }
  if (nul >= 0 && (bad < 0 || nul < bad)) {
    throw new ScriptEncodingError(
      `${name}:${lineOf(buf, nul)}: not a text file: NUL byte (\\x00) at byte ${nul + 1}`,
    );
  }
  throw new ScriptEncodingError(
    `${name}:${lineOf(buf, bad)}: not valid UTF-8: byte sequence ${hexBytes(buf, bad, bad + len)} at byte ${bad + 1} ` +
      '(scripts must be UTF-8 text; convert other encodings first, e.g. iconv -f LATIN1 -t UTF-8)',
  );
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Script text quoted in a message, with control characters shown as `\xNN` (one line, nothing raw). */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${(c.codePointAt(0) as number).toString(16).padStart(2, '0')}`);
}

/** An input file could not be read; the message is psql's (`error: FILE: No such file or directory`). */
export class ScriptReadError extends Error {
  override name = 'ScriptReadError';
}

/** psql's wording of a file error (`No such file or directory`, …), the system's message otherwise. */
export function fsErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  if (code === 'EISDIR') return 'Is a directory';
  return e instanceof Error ? e.message : String(e);
}

/** One input of the runner as text: its name in messages, the directory `\ir` resolves against. */
export interface ScriptInput {
  name: string;
  dir: string;
  text: string;
}

/**
 * Reads one input whole: a `-c` string (`<command line>`), stdin (`<stdin>`; bytes must be UTF-8) or a
 * file (relative to `cwd`). Throws {@link ScriptReadError} or {@link ScriptEncodingError}, so that a bad
 * input stops the run before any of it runs.
 */
export async function readScriptInput(
  input: { kind: 'file'; path: string } | { kind: 'command'; text: string } | { kind: 'stdin' },
  cwd: string,
  readStdin: () => Promise<string | Buffer>,
): Promise<ScriptInput> {
  if (input.kind === 'command') return { name: '<command line>', dir: cwd, text: input.text };
  if (input.kind === 'stdin') {
    const data = await readStdin();
    return {
      name: '<stdin>',
      dir: cwd,
      text: typeof data === 'string' ? data : decodeScript(data, '<stdin>'),
    };
  }
  const path = resolve(cwd, input.path);
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new ScriptReadError(`error: ${input.path}: ${fsErrorText(e)}`);
  }
  return { name: input.path, dir: dirname(path), text: decodeScript(data, input.path) };
}
