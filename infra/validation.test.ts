import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { App, type CfnResource } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { SHOW_ACKNOWLEDGED_CONTEXT } from './acknowledge.js';
import { buildApp } from './app.js';
import { TEST_CONTEXT } from './testing.js';

/** Runs a synth and returns the validation failure message (empty when it passed). */
function synthFailure(
  context: Record<string, unknown> = {},
  change?: (b: ReturnType<typeof buildApp>) => void,
): string {
  const built = buildApp(new App({ context: { ...TEST_CONTEXT, ...context } }));
  change?.(built);
  try {
    built.app.synth();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

/** `{ path, id }` of every finding in a validation report text. */
function findings(report: string): Array<{ path: string; id: string }> {
  return [...report.matchAll(/\n\s+(\S+) \S+\n\s+Acknowledge with '([^']+)'/g)].map((m) => ({
    path: m[1] ?? '',
    id: m[2] ?? '',
  }));
}

/** Every acknowledgement recorded in the construct tree: `{ path, id, reason }`. */
function acknowledgements(): Array<{ path: string; id: string; reason: string }> {
  const built = buildApp(new App({ context: TEST_CONTEXT }));
  const out: Array<{ path: string; id: string; reason: string }> = [];
  for (const c of built.stack.node.findAll())
    for (const m of c.node.metadata)
      if (m.type === 'aws:cdk:acknowledged-rules')
        for (const [id, reason] of Object.entries(m.data as Record<string, string>))
          out.push({ path: c.node.path, id, reason });
  return out;
}

describe('checks at synth', () => {
  it('passes cdk-nag AwsSolutions and the CloudFormation validator, writing an empty report', () => {
    const built = buildApp(new App({ context: TEST_CONTEXT }));
    const asm = built.app.synth();
    const report = path.join(asm.directory, 'validation-report.json');
    if (existsSync(report)) {
      const json = JSON.parse(readFileSync(report, 'utf8')) as {
        pluginReports: Array<{ violations?: unknown[] }>;
      };
      expect(json.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
    }
  });

  it('fails the synth on an unacknowledged cdk-nag finding', () => {
    const msg = synthFailure({}, (b) => {
      new sqs.Queue(b.stack, 'PlainQueue');
    });
    expect(msg).toMatch(
      /AwsSolutions-SQS3[\s\S]*rsqlo\/PlainQueue\/Resource|rsqlo\/PlainQueue\/Resource[\s\S]*AwsSolutions-SQS3/,
    );
    expect(msg).toContain('AwsSolutions-SQS4');
  });

  it('fails the synth on a CloudFormation validator error (schema and type checks, offline)', () => {
    const msg = synthFailure({}, (b) => {
      const q = b.stack.jobQueue.queue.node.defaultChild as CfnResource;
      q.addPropertyOverride('MessageRetentionPeriod', 'four days');
      q.addPropertyOverride('NotAProperty', true);
    });
    expect(msg).toContain('(CloudFormation Validate)');
    expect(msg).toContain("'four days' is not of type 'integer'");
    expect(msg).toContain("'NotAProperty' was unexpected");
  });
});

describe('acknowledged findings', () => {
  const acks = acknowledgements();
  const shown = findings(synthFailure({ [SHOW_ACKNOWLEDGED_CONTEXT]: true }));

  it('each carries a specific reason', () => {
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.reason.length, `${a.path} ${a.id}`).toBeGreaterThanOrEqual(60);
      expect(a.id, a.path).toMatch(/^AwsSolutions::AwsSolutions-[A-Z]+\d+/);
    }
  });

  it('match real findings one to one: with acknowledgements off, exactly these findings appear', () => {
    expect(shown.length).toBeGreaterThan(0);
    const covers = (a: { path: string; id: string }, f: { path: string; id: string }) =>
      a.id === f.id && (f.path === a.path || f.path.startsWith(`${a.path}/`));
    for (const f of shown)
      expect(
        acks.some((a) => covers(a, f)),
        `${f.path} ${f.id} is not acknowledged`,
      ).toBe(true);
    for (const a of acks)
      expect(
        shown.some((f) => covers(a, f)),
        `${a.path} ${a.id} acknowledges nothing`,
      ).toBe(true);
  });

  it('are only the expected kinds: DLQs seen as queues, pinned Node 22, and wildcard resources IAM requires', () => {
    const kinds = new Set(acks.map((a) => a.id.replace(/\[.*$/, '')));
    expect([...kinds].sort()).toEqual([
      'AwsSolutions::AwsSolutions-IAM5',
      'AwsSolutions::AwsSolutions-L1',
      'AwsSolutions::AwsSolutions-SQS3',
    ]);
  });
});
