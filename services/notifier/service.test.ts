import { describe, expect, it } from 'vitest';
import { EVENT_EXAMPLES } from '../../contracts/examples.js';
import {
  type AlertEnvelope,
  formatAlert,
  MAX_MESSAGE_BYTES,
  MAX_SUBJECT_CHARS,
  snsSubject,
} from './format.js';
import {
  ALERT_LEASE_SECONDS,
  type AlertDedupe,
  AlertInProgressError,
  type ClaimResult,
  createNotifierService,
  NotAnAlertError,
} from './service.js';

const ctx = {
  workflowAuditTable: 'rsqlo-workflow-audit',
  jobAuditTable: 'rsqlo-job-audit',
  jobLogGroup: '/ops/rsql-logs/',
};

const nasty =
  'ERROR:  relation "public.sales" does not exist\nLINE 1: select * from "public"."sales" where note = \'C:\\temp\\x\' -- Zürich 東京 😀\r\nexit\u0007';

const jobFailed = (over: Record<string, unknown> = {}): AlertEnvelope => ({
  'detail-type': 'JobFinished',
  time: '2024-05-01T02:00:00Z',
  region: 'eu-west-1',
  account: '123456789012',
  detail: {
    event_id: 'JobFinished:r1:1.2:a1',
    workflow_id: 'blog_test_workflow',
    workflow_execution_id: 'r1',
    job_key: '1.2',
    job_name: 'rsql_blog_script_2.sh',
    stage: 1,
    attempt: 1,
    status: 'Failed',
    exit_code: 3,
    error_message: nasty,
    instance_id: 'i-0123456789abcdef0',
    ssm_command_id: 'c-1',
    log_location: '/ops/rsql-logs/r1/1.2.a1',
    reported_by: 'agent',
    ...over,
  },
});

/** Lease semantics of the DynamoDB adapter, in memory, with a clock the test moves. */
function memoryDedupe() {
  let now = 0;
  const rows = new Map<string, { state: 'pending' | 'sent'; until: number }>();
  const dedupe: AlertDedupe = {
    async claim(id, lease): Promise<ClaimResult> {
      const r = rows.get(id);
      if (r?.state === 'sent') return 'sent';
      if (r?.state === 'pending' && r.until > now) return 'in-progress';
      rows.set(id, { state: 'pending', until: now + lease });
      return 'claimed';
    },
    async complete(id, retention) {
      rows.set(id, { state: 'sent', until: now + retention });
    },
    async release(id) {
      rows.delete(id);
    },
  };
  return { dedupe, advance: (s: number) => (now += s) };
}

function setup(fail = 0) {
  const m = memoryDedupe();
  const published: Array<{ subject: string; message: string }> = [];
  let failures = fail;
  const slept: number[] = [];
  const service = createNotifierService({
    dedupe: m.dedupe,
    context: ctx,
    publisher: {
      async publish(a) {
        if (failures-- > 0) throw new Error('SNS throttled');
        published.push(a);
      },
    },
    sleep: async (ms) => {
      slept.push(ms);
    },
  });
  return { service, published, slept, ...m };
}

describe('alerts people can read', () => {
  it('a multi-line message keeps quotes, backslashes, newlines and non-ASCII readable', () => {
    const { subject, message } = formatAlert(jobFailed(), ctx);
    expect(subject).toBe('rsqlo: job rsql_blog_script_2.sh Failed in blog_test_workflow');
    expect(message).toBe(
      [
        'rsqlo: job rsql_blog_script_2.sh Failed in blog_test_workflow',
        '',
        'workflow:  blog_test_workflow',
        'execution: r1',
        'job:       1.2 rsql_blog_script_2.sh (stage 1, attempt 1)',
        'status:    Failed (exit code 3, reported by agent)',
        'error:     ERROR:  relation "public.sales" does not exist',
        '           LINE 1: select * from "public"."sales" where note = \'C:\\temp\\x\' -- Zürich 東京 😀',
        '           exit\\u0007',
        'instance:  i-0123456789abcdef0 (SSM command c-1)',
        'log:       /ops/rsql-logs/r1/1.2.a1 (CloudWatch Logs group /ops/rsql-logs/)',
        'audit:     DynamoDB rsqlo-workflow-audit / rsqlo-job-audit, workflow_execution_id = r1',
        'time:      2024-05-01T02:00:00Z (eu-west-1, account 123456789012)',
        'event id:  JobFinished:r1:1.2:a1',
      ].join('\n'),
    );
  });

  it('a failed workflow names the first failed job, its error and log, and the others', () => {
    const { subject, message } = formatAlert(
      {
        'detail-type': 'WorkflowFinished',
        detail: {
          event_id: 'WorkflowFinished:r1',
          workflow_id: 'wf',
          workflow_execution_id: 'r1',
          status: 'Failed',
          failed_stage: 2,
          duration_ms: 1234,
          failed_jobs: [
            {
              job_key: '2.1',
              job_name: 'a.sh',
              status: 'TimedOut',
              exit_code: null,
              error_message: 'timed out after 60 s',
              log_location: 'l1',
            },
            { job_key: '2.2', job_name: 'b.sh', status: 'Failed' },
          ],
          counts: { total: 3, completed: 1, failed: 1, timed_out: 1 },
        },
      },
      ctx,
    );
    expect(subject).toBe('rsqlo: workflow wf Failed');
    expect(message).toContain('job:       2.1 a.sh TimedOut (exit code -)');
    expect(message).toContain('error:     timed out after 60 s');
    expect(message).toContain('also:      2.2 b.sh Failed');
  });

  // SNS API reference, Publish, Subject — today: "Subjects must be UTF-8 text with no line breaks
  // or control characters, and less than 100 characters long."; earlier: "Subjects must be ASCII
  // text that begins with a letter, number, or punctuation mark; must not include line breaks or
  // control characters; and must be less than 100 characters long." Both hold.
  it('subjects follow SNS: printable ASCII, one line, 1 to 99 characters, not starting with a space', () => {
    const s = snsSubject(`rsqlo: job ${'x'.repeat(200)}\nsecond line\u0000\t😀`);
    expect(s).toMatch(/^[\x21-\x7e][\x20-\x7e]*$/);
    expect(s.length).toBe(MAX_SUBJECT_CHARS);
    expect(s.endsWith('...')).toBe(true);
    expect(snsSubject('  Zürich 東京 😀 Ünïcödé\r\n')).toBe('Zurich ?? ? Unicode');
    expect(snsSubject('\u0000\n ')).toBe('rsqlo alert');
    const weird = formatAlert(jobFailed({ job_name: 'a\nb\u0001.sh' }), ctx).subject;
    // The newline becomes a space; a control character is shown, escaped, not sent raw.
    expect(weird).toBe('rsqlo: job a b\\u0001.sh Failed in blog_test_workflow');
  });

  it('a message over the size budget is cut on a character boundary and says so', () => {
    const { message } = formatAlert(jobFailed({ error_message: `é😀${'東'.repeat(100_000)}` }), ctx);
    expect(Buffer.byteLength(message, 'utf8')).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(message).toMatch(/東\n\.\.\. \(truncated; the full event is in the bus archive\)$/);
    expect(message).not.toContain('\ufffd');
  });
});

describe('one alert per fact', () => {
  it('publishes once per event id, however often and in whatever order the event comes', async () => {
    const { service, published } = setup();
    const a = jobFailed();
    const b = jobFailed({ event_id: 'JobFinished:r1:1.2:a2', attempt: 2 });
    const outcomes = [];
    for (const e of [a, b, a, a, b]) outcomes.push(await service.notify(structuredClone(e)));
    expect(outcomes).toEqual(['published', 'published', 'duplicate', 'duplicate', 'duplicate']);
    expect(published).toHaveLength(2);
  });

  it('a copy arriving while the first is publishing waits for it and finds it sent: no error, no second alert', async () => {
    const m = memoryDedupe();
    let release: () => void = () => {};
    const published: unknown[] = [];
    const looks: number[] = [];
    const service = createNotifierService({
      dedupe: m.dedupe,
      context: ctx,
      publisher: {
        publish: (a) =>
          new Promise<void>((r) => {
            release = () => {
              published.push(a);
              r();
            };
          }),
      },
      pollMs: 100,
      // The first delivery finishes while the copy is on its third look.
      sleep: async (ms) => {
        looks.push(ms);
        if (looks.length === 3) {
          release();
          await first;
        }
      },
    });
    const first = service.notify(jobFailed());
    await new Promise((r) => setTimeout(r, 0));
    expect(await service.notify(jobFailed())).toBe('duplicate');
    expect(await first).toBe('published');
    expect(looks).toEqual([100, 100, 100]);
    expect(published).toHaveLength(1);
  });

  it('a copy whose holder is still publishing after the wait is retried (throws), never published twice', async () => {
    const { service, published, dedupe, slept } = setup();
    expect(await dedupe.claim('JobFinished:r1:1.2:a1', 45)).toBe('claimed'); // a slow holder
    await expect(service.notify(jobFailed())).rejects.toBeInstanceOf(AlertInProgressError);
    expect(slept.reduce((a, b) => a + b, 0)).toBe(5_000);
    expect(published).toHaveLength(0);
  });

  it('a failed publish gives the claim back, so the retry publishes', async () => {
    const { service, published } = setup(1);
    await expect(service.notify(jobFailed())).rejects.toThrow(/SNS throttled/);
    expect(await service.notify(jobFailed())).toBe('published');
    expect(published).toHaveLength(1);
  });

  it('a claim whose holder died mid-publish expires and is taken over: the alert is not lost', async () => {
    const { service, published, dedupe, advance } = setup();
    expect(await dedupe.claim('JobFinished:r1:1.2:a1', ALERT_LEASE_SECONDS)).toBe('claimed'); // then it dies
    await expect(service.notify(jobFailed())).rejects.toBeInstanceOf(AlertInProgressError);
    advance(ALERT_LEASE_SECONDS + 1); // Lambda retries a failed asynchronous invocation after a minute
    expect(ALERT_LEASE_SECONDS + 1).toBeLessThan(60);
    expect(await service.notify(jobFailed())).toBe('published');
    expect(published).toHaveLength(1);
  });

  it('refuses what is not an alert event, without publishing', async () => {
    const { service, published } = setup();
    for (const bad of [null, {}, { 'detail-type': 'JobFinished', detail: {} }, { detail: { event_id: 'x' } }])
      await expect(service.notify(bad)).rejects.toBeInstanceOf(NotAnAlertError);
    expect(published).toHaveLength(0);
  });
});

describe('SLA alerts people can read', () => {
  it("SlaMissed says which line the run missed, in the definition's words", () => {
    const { subject, message } = formatAlert(
      {
        'detail-type': 'SlaMissed',
        time: '2024-05-01T04:00:00Z',
        region: 'eu-west-1',
        account: '123456789012',
        detail: EVENT_EXAMPLES.SlaMissed as unknown as Record<string, unknown>,
      },
      ctx,
    );
    expect(subject).toBe('rsqlo: SLA missed: blog_test_workflow not finished by 06:00 Europe/Berlin');
    expect(message).toContain('sla:       finish_by 06:00 Europe/Berlin: not finished by it');
    expect(message).toContain('line at:   2024-05-01T04:00:00.000Z');
  });

  it('RunLongerThanUsual gives the percentile and the threshold', () => {
    const { subject, message } = formatAlert(
      {
        'detail-type': 'RunLongerThanUsual',
        detail: EVENT_EXAMPLES.RunLongerThanUsual as unknown as Record<string, unknown>,
      },
      ctx,
    );
    expect(subject).toBe('rsqlo: blog_test_workflow running longer than usual');
    expect(message).toContain(
      'still running 2700 s after its start: 1.5 x the 90th percentile (1800 s) of the last 20 Completed runs',
    );
  });
});
