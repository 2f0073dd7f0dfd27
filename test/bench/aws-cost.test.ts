import { describe, expect, it } from 'vitest';
import { type AwsUsage, costOf, formatCost, PRICES } from './aws-cost.js';

const GB = 1024 ** 3;

/** 1,000 jobs with round counts, so every line can be worked out by hand. */
function usage(over: Partial<AwsUsage> = {}): AwsUsage {
  return {
    jobs: 1000,
    successfulJobs: 1000,
    runs: 1,
    lambda: {
      planner: { invocations: 3000, billedMs: 60_000 },
      dispatcherTask: { invocations: 2000, billedMs: 40_000 },
    },
    wrapperTransitions: 2006,
    schedulesCreated: 1,
    schedulerInvocations: 2000,
    putEvents: { requests: 900, entries: 4000, billedEvents: 4000 },
    sqs: { requests: 3500, emptyReceives: 500, byOperation: { SendMessageBatch: 100 } },
    dynamo: { wru: 9000, rru: 2000, failedWriteUnits: 1000, byCaller: {} },
    ssmCommands: 1000,
    stepFunctionsApi: { SendTaskHeartbeat: 3000 },
    putLogEvents: 1000,
    logBytes: GB / 2,
    handlerLogBytes: GB / 2,
    secretsCalls: 1000,
    ...over,
  };
}

const line = (r: ReturnType<typeof costOf>, service: string, unit: string) => {
  const l = r.lines.find((x) => x.service === service && x.unit === unit);
  if (!l) throw new Error(`no line ${service} ${unit}`);
  return l;
};

describe('aws-cost: $ per 1,000 jobs from request counts', () => {
  it('uses the published us-east-1 unit prices', () => {
    // Per the pages cited in aws-cost.ts: a units slip (per 1,000 vs per million) fails here.
    expect(PRICES.stepFunctionsTransition * 1000).toBeCloseTo(0.025, 12);
    expect(PRICES.lambdaRequest * 1e6).toBeCloseTo(0.2, 12);
    expect(PRICES.lambdaArmGbSecond).toBeCloseTo(0.0000133334, 12);
    expect(PRICES.eventBridgeEvent * 1e6).toBeCloseTo(1, 12);
    expect(PRICES.sqsRequest * 1e6).toBeCloseTo(0.4, 12);
    expect(PRICES.dynamoWru * 1e6).toBeCloseTo(0.625, 12);
    expect(PRICES.dynamoRru * 1e6).toBeCloseTo(0.125, 12);
    expect(PRICES.logsIngestedGb).toBe(0.5);
    expect(PRICES.secretsCall * 10_000).toBeCloseTo(0.05, 12);
    expect(PRICES.ssmCommand).toBe(0);
    expect(PRICES.schedulerInvocation * 1e6).toBeCloseTo(1, 12);
  });

  it('prices each service from its counts, worked by hand', () => {
    const r = costOf(usage());
    // 2,006 transitions × $0.025 / 1,000.
    expect(line(r, 'Step Functions', 'state transitions').usdPer1000Jobs).toBeCloseTo(0.05015, 10);
    expect(line(r, 'Step Functions', 'state transitions').perJob).toBeCloseTo(2.006, 10);
    // 5,000 invocations × $0.20 / 1M.
    expect(line(r, 'Lambda', 'invocations').usdPer1000Jobs).toBeCloseTo(0.001, 10);
    // 100 s × 0.5 GB = 50 GB-s × $0.0000133334.
    expect(line(r, 'Lambda', 'GB-seconds').usdPer1000Jobs).toBeCloseTo(0.00066667, 8);
    expect(line(r, 'EventBridge', 'events published').usdPer1000Jobs).toBeCloseTo(0.004, 10);
    // 3,500 requests less 500 empty receives.
    expect(line(r, 'SQS', 'requests').perJob).toBeCloseTo(3, 10);
    expect(line(r, 'SQS', 'requests').usdPer1000Jobs).toBeCloseTo(0.0012, 10);
    // 9,000 units + 1,000 of failed conditional writes.
    expect(line(r, 'DynamoDB', 'write request units').usdPer1000Jobs).toBeCloseTo(0.00625, 10);
    expect(line(r, 'DynamoDB', 'read request units').usdPer1000Jobs).toBeCloseTo(0.00025, 10);
    expect(line(r, 'SSM Run Command', 'commands').usdPer1000Jobs).toBe(0);
    // Half a GB shipped by the agents + half a GB of function logs.
    expect(line(r, 'CloudWatch Logs', 'GB ingested').usdPer1000Jobs).toBeCloseTo(0.5, 10);
    // Per host and day with the agent's cache, not per job: said, not priced per job.
    expect(r.lines.find((l) => l.service === 'Secrets Manager')).toBeUndefined();
    expect(r.notes.find((n) => n.startsWith('Secrets Manager:'))).toMatch(/at most 96 times a day/);
    // 2,000 run-check invocations × $1.00 / 1M (creating the schedules is not billed).
    expect(line(r, 'EventBridge Scheduler', 'invocations').usdPer1000Jobs).toBeCloseTo(0.002, 10);
    expect(r.usdPer1000Jobs).toBeCloseTo(0.56551667, 7);
    expect(r.usdPer1000Jobs).toBeCloseTo(
      r.lines.reduce((n, l) => n + l.usdPer1000Jobs, 0),
      12,
    );
  });

  it('scales to 1,000 jobs: the same requests spread over fewer jobs cost more per job', () => {
    const a = costOf(usage());
    const b = costOf(usage({ jobs: 250, successfulJobs: 250 }));
    expect(b.usdPer1000Jobs).toBeCloseTo(4 * a.usdPer1000Jobs, 10);
    expect(line(b, 'Step Functions', 'state transitions').perJob).toBeCloseTo(8.024, 10);
  });

  it('counts transitions per successful job (the wrapper is the only state machine)', () => {
    expect(costOf(usage()).transitionsPerSuccessfulJob).toBeCloseTo(2.006, 10);
    // Failed jobs still cost their transitions; the ratio is per job that completed.
    expect(costOf(usage({ successfulJobs: 800 })).transitionsPerSuccessfulJob).toBeCloseTo(2.5075, 10);
    expect(costOf(usage({ successfulJobs: 0 })).transitionsPerSuccessfulJob).toBe(2006);
  });

  it('refuses a scenario without jobs instead of dividing by zero', () => {
    expect(() => costOf(usage({ jobs: 0 }))).toThrow(/needs jobs/);
  });

  it('prints a table with every service and the total', () => {
    const text = formatCost('aws.test', costOf(usage()));
    expect(text).toContain('aws.test: $0.5655 per 1,000 jobs, 2.006 state transitions per successful job');
    for (const s of [
      'Step Functions',
      'Lambda',
      'EventBridge',
      'SQS',
      'DynamoDB',
      'SSM Run Command',
      'EventBridge Scheduler',
    ])
      expect(text).toContain(s);
    expect(text).toMatch(/total\s+\$0\.56552/);
    expect(text).toContain('500 empty receives left out');
    expect(text).toContain('Secrets Manager: 1000 GetSecretValue call(s)');
  });
});
