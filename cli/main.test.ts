import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Io } from './drive.js';
import { COMMANDS } from './help.js';
import { COMMAND_RUNNERS, main } from './main.js';

/** An Io that keeps what the command writes. */
function capture(): Io & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        add(String(chunk));
        done();
      },
    });
  return {
    stdout: sink((s) => {
      out += s;
    }) as never,
    stderr: sink((s) => {
      err += s;
    }) as never,
    out: () => out,
    err: () => err,
  };
}

describe('the command table', () => {
  it('runs exactly the commands help.ts documents', () => {
    expect([...COMMAND_RUNNERS.keys()].sort()).toEqual(Object.keys(COMMANDS).sort());
  });

  it('does not take a name from Object.prototype for a command', async () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const io = capture();
      expect(await main([name], io), name).toBe(2);
      expect(io.err(), name).toMatch(new RegExp(`^rsqlo: unknown command "${name}"`));
    }
  });

  it('hands a command its arguments and returns its exit code (usage errors: 2, one line)', async () => {
    const io = capture();
    expect(await main(['completion', 'fish'], io)).toBe(2);
    expect(io.err()).toMatch(/^rsqlo completion: completion takes bash or zsh; see .*completion --help\n$/);
    const ok = capture();
    expect(await main(['completion', 'bash'], ok)).toBe(0);
    expect(ok.out()).toContain('complete');
  });
});
