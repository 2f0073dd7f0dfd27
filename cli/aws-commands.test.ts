import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { wantsAws } from './aws-commands.js';
import { main } from './main.js';

async function rsqlo(argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => {
    stdout += String(c);
  });
  err.on('data', (c) => {
    stderr += String(c);
  });
  const code = await main(argv, { stdout: out, stderr: err });
  return { code, stdout, stderr };
}

describe('--aws on the command line', () => {
  it('is an option before `--` only', () => {
    expect(wantsAws(['status', 'x', '--aws'])).toBe(true);
    expect(wantsAws(['sql', '--', '--aws'])).toBe(false);
    expect(wantsAws(['status', 'x'])).toBe(false);
  });

  it('routes the commands that take it to the stack; a bad --stack is a usage error before any request', async () => {
    const r = await rsqlo(['status', 'x', '--aws', '--stack', 'not a stack']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^rsqlo status: --stack: "not a stack" is not a stack name/);
    const typo = await rsqlo(['status', 'x', '--aws', '--stak', 'rsqlo']);
    expect(typo.stderr).toMatch(/unknown option --stak \(did you mean --stack\?\)/);
  });

  it('is refused by commands that work on a home only, and definitions needs it', async () => {
    const plan = await rsqlo(['plan', 'examples/blog', '--aws']);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/plan does not take --aws/);
    const defs = await rsqlo(['definitions', 'list']);
    expect(defs.code).toBe(2);
    expect(defs.stderr).toMatch(/definitions works on a deployed stack: add --aws/);
    const verb = await rsqlo(['definitions', 'pull', '--aws']);
    expect(verb.stderr).toMatch(/unknown definitions verb "pull" \(push or list\)/);
  });

  it('--help says what --aws does for the commands that take it', async () => {
    const run = await rsqlo(['run', '--aws', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'With --aws [--stack NAME] [--region R] [--profile P] it works on a deployed stack',
    );
    expect((await rsqlo(['plan', '--help'])).stdout).not.toContain('With --aws');
    expect((await rsqlo(['definitions', '--help'])).stdout).toMatch(/^Usage: \S+(?: \S+)* definitions push/);
  });
});
