import { appendFileSync, existsSync, mkdtempSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AttemptRef, LogEvent } from '../../contracts/run-view.js';
import type { LogStreamOptions } from '../../web/ports.js';
import { createLocalLogSource, tailStart } from './log-source.js';
import type { AttemptLog } from './run-view-source.js';

const REF: AttemptRef = { workflow_execution_id: 'wf-1', job_key: '1.1', attempt: 1 };

function dir(): string {
  return mkdtempSync(path.join(tmpdir(), 'rsqlo-logsrc-'));
}

/** A log file and an attempt whose state the test controls. */
function fixture(
  initial: string | null,
  opts: { chunkBytes?: number; maxLineBytes?: number; maxTailBytes?: number } = {},
) {
  const file = path.join(dir(), 'a1.log');
  if (initial !== null) writeFileSync(file, initial);
  const state: { loc: AttemptLog | undefined } = { loc: { file, finished: false } };
  const source = createLocalLogSource({ locate: () => state.loc, pollMs: 10, ...opts });
  return { file, state, source };
}

async function collect(it: AsyncIterable<LogEvent>, until?: (e: LogEvent[]) => boolean): Promise<LogEvent[]> {
  const out: LogEvent[] = [];
  for await (const e of it) {
    out.push(LogEvent.parse(e));
    if (until?.(out)) break;
  }
  return out;
}

const lines = (evs: LogEvent[]) => evs.flatMap((e) => (e.kind === 'lines' ? e.lines : []));
const last = (evs: LogEvent[]) => evs[evs.length - 1];

describe('local log source', () => {
  it('reads a finished log whole, ending with its last line even without a newline', async () => {
    const f = fixture('a\nb\r\nc');
    f.state.loc = { file: f.file, finished: true };
    const evs = await collect(f.source.stream(REF, {}));
    expect(lines(evs)).toEqual(['a', 'b', 'c']);
    expect(last(evs)).toEqual({ kind: 'end', reason: 'finished', cursor: '6' });
  });

  it('tails the last N lines, says so, and a cursor resumes exactly after what was sent', async () => {
    const body = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    const f = fixture(body, { chunkBytes: 64 });
    const evs = await collect(f.source.stream(REF, { tailLines: 3 }));
    expect(evs[0]).toEqual({ kind: 'notice', message: 'showing the last 3 lines' });
    expect(lines(evs)).toEqual(['line 98', 'line 99', 'line 100']);
    // Running, not following: stops at the current end.
    const end = last(evs);
    expect(end).toMatchObject({ kind: 'end', reason: 'eof' });
    appendFileSync(f.file, 'line 101\npart');
    const more = await collect(f.source.stream(REF, { cursor: (end as { cursor: string }).cursor }));
    expect(lines(more)).toEqual(['line 101']);
    // The unfinished line is held back until the attempt ends.
    f.state.loc = { file: f.file, finished: true };
    const rest = await collect(f.source.stream(REF, { cursor: (last(more) as { cursor: string }).cursor }));
    expect(lines(rest)).toEqual(['part']);
    expect(last(rest)).toMatchObject({ kind: 'end', reason: 'finished' });
  });

  it('finds the tail by reading backwards in chunks, bounded by maxTailBytes', async () => {
    const d = dir();
    const file = path.join(d, 'big.log');
    const line = `${'x'.repeat(99)}\n`;
    writeFileSync(file, line.repeat(50_000)); // 5 MB
    const fh = await open(file, 'r');
    try {
      const size = 5_000_000;
      expect(await tailStart(fh, size, 2, 1 << 20, 4096)).toEqual({ offset: size - 200, capped: false });
      // More lines than fit in the window: starts at the first line boundary inside it.
      const capped = await tailStart(fh, size, 1_000_000, 1000, 4096);
      expect(capped.capped).toBe(true);
      expect(capped.offset).toBe(size - 900);
      expect(await tailStart(fh, size, 0, 1000, 4096)).toEqual({ offset: size, capped: false });
    } finally {
      await fh.close();
    }
    const src = createLocalLogSource({
      locate: () => ({ file, finished: true }),
      maxTailBytes: 1000,
      chunkBytes: 256,
    });
    const evs = await collect(src.stream(REF, { tailLines: 1_000_000 }));
    expect(evs[0]).toEqual({ kind: 'notice', message: 'showing the last 900 B of 4.8 MiB' });
    expect(lines(evs)).toHaveLength(9);
    // Every batch is bounded by the chunk size (plus one carried line): memory stays constant.
    for (const e of evs)
      if (e.kind === 'lines') expect(e.lines.join('\n').length).toBeLessThanOrEqual(256 + 100);
  });

  it('follows a growing log until the attempt ends, then reads what is left and stops', async () => {
    const f = fixture('start\n');
    const got: string[] = [];
    const it = f.source.stream(REF, { follow: true })[Symbol.asyncIterator]();
    const next = async () => LogEvent.parse((await it.next()).value);
    expect(await next()).toEqual({ kind: 'lines', lines: ['start'], cursor: '6' });
    appendFileSync(f.file, 'half');
    appendFileSync(f.file, ' a line\nsecond\n');
    for (;;) {
      const e = await next();
      if (e.kind === 'lines') got.push(...e.lines);
      if (got.length >= 2) break;
    }
    expect(got).toEqual(['half a line', 'second']);
    appendFileSync(f.file, 'written just before the end\n');
    f.state.loc = { file: f.file, finished: true };
    const rest: LogEvent[] = [];
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      rest.push(LogEvent.parse(r.value));
    }
    expect(lines(rest)).toEqual(['written just before the end']);
    expect(last(rest)).toMatchObject({ kind: 'end', reason: 'finished' });
  });

  it('waits for an attempt that has not started, when following; says so otherwise', async () => {
    const f = fixture(null);
    f.state.loc = { file: null, finished: false };
    expect(await collect(f.source.stream(REF, {}))).toEqual([
      { kind: 'end', reason: 'not_started', cursor: null },
    ]);
    const pending = collect(f.source.stream(REF, { follow: true }), (e) => lines(e).length > 0);
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(f.file, 'started\n');
    f.state.loc = { file: f.file, finished: false };
    expect(lines(await pending)).toEqual(['started']);
  });

  it('ends with "missing" for an attempt that never ran or whose log is gone, and for unknown attempts', async () => {
    const f = fixture(null);
    f.state.loc = { file: null, finished: true };
    expect(await collect(f.source.stream(REF, { follow: true }))).toEqual([
      { kind: 'end', reason: 'missing', cursor: null },
    ]);
    f.state.loc = { file: f.file, finished: true };
    const gone = await collect(f.source.stream(REF, {}));
    expect(gone[0]).toMatchObject({ kind: 'notice', message: expect.stringContaining('no longer exists') });
    expect(last(gone)).toEqual({ kind: 'end', reason: 'missing', cursor: null });
    f.state.loc = undefined;
    expect(await collect(f.source.stream(REF, {}))).toEqual([
      { kind: 'end', reason: 'missing', cursor: null },
    ]);
  });

  it('cuts an endless line into pieces on UTF-8 character boundaries', async () => {
    const f = fixture(`${'é'.repeat(40)}\nshort\n`, { maxLineBytes: 15, chunkBytes: 32 });
    f.state.loc = { file: f.file, finished: true };
    const ls = lines(await collect(f.source.stream(REF, {})));
    expect(ls.join('')).toBe(`${'é'.repeat(40)}short`);
    expect(ls.at(-1)).toBe('short');
    for (const l of ls) expect(l).not.toContain('\uFFFD');
    expect(Math.max(...ls.map((l) => Buffer.byteLength(l)))).toBeLessThanOrEqual(15);
  });

  it('starts over when the log is truncated under a follower, and after a cursor past the end', async () => {
    const f = fixture('one\ntwo\n');
    const it = f.source.stream(REF, { follow: true })[Symbol.asyncIterator]();
    expect(LogEvent.parse((await it.next()).value)).toMatchObject({ lines: ['one', 'two'] });
    truncateSync(f.file, 0);
    appendFileSync(f.file, 'new\n');
    // Smaller than where we were: a notice, then the new content from the start.
    const evs: LogEvent[] = [];
    while (lines(evs).length === 0) evs.push(LogEvent.parse((await it.next()).value));
    // "new\n" is 4 bytes < 8: seen as truncated.
    expect(evs[0]).toMatchObject({ kind: 'notice', message: expect.stringContaining('truncated') });
    expect(lines(evs)).toEqual(['new']);
    await it.return?.(undefined);
    const past = await collect(f.source.stream(REF, { cursor: '999' }));
    expect(past[0]).toMatchObject({ kind: 'notice' });
    expect(lines(past)).toEqual(['new']);
  });

  it('stops following when the reader goes away (abort), closing the file', async () => {
    const f = fixture('x\n');
    const fds = () => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    const ac = new AbortController();
    const opts: LogStreamOptions = { follow: true, signal: ac.signal };
    // Aborted once the existing line was read (a signal, not a fixed sleep: a loaded machine may
    // take longer than any sleep to read it), while the stream waits for more.
    const evs: LogEvent[] = [];
    for await (const e of f.source.stream(REF, opts)) {
      evs.push(LogEvent.parse(e));
      if (lines(evs).length > 0 && !ac.signal.aborted) ac.abort();
    }
    expect(lines(evs)).toEqual(['x']);
    expect(evs.some((e) => e.kind === 'end')).toBe(false);
    // The log's descriptor was closed (Linux shows open descriptors in /proc/self/fd).
    expect(fds()).toBe(before);
  });
});
