/**
 * What a job costs on AWS, from the AWS-path harness's request counters (test/aws/harness.ts
 * `usage()`: requests the simulators and emulators served), at published us-east-1 prices. Free
 * tiers are left out (a steady user is past them).
 *
 * Per service: the billed units per job and their price; the total per 1,000 jobs. What is not per
 * job is left out of the total and named in `notes`: the SQS poller's empty receives (per hour,
 * not per job), CloudWatch Logs storage, Lambda's platform log lines, and the agent hosts (EC2).
 */

/**
 * Published on-demand prices, US East (N. Virginia), each with the page it is from. Looked up
 * 2026-12-06 with the project's `search` tool: Step Functions from its pricing page itself; Lambda,
 * EventBridge, SQS, DynamoDB, CloudWatch Logs and Secrets Manager from their pricing pages as
 * quoted by 2025–2026 pricing guides (the AWS pages were not in the stored corpus), and SSM from
 * the Systems Manager user guide. Re-check the pages before quoting a number to a customer.
 */
export const PRICES = {
  /**
   * "$0.025 per 1,000 state transitions" (US East (N. Virginia), Standard workflows); "Step
   * Functions counts a state transition each time a step of your workflow is executed … including
   * retries". https://aws.amazon.com/step-functions/pricing/
   */
  stepFunctionsTransition: 0.025 / 1000,
  /** Requests: $0.20 per 1M (x86 and Arm). https://aws.amazon.com/lambda/pricing/ */
  lambdaRequest: 0.2 / 1e6,
  /**
   * Duration, Arm (infra/constructs/rsqlo-function.ts deploys ARM_64), first 7.5 billion GB-s a
   * month: $0.0000133334 per GB-second. https://aws.amazon.com/lambda/pricing/
   */
  lambdaArmGbSecond: 0.0000133334,
  /**
   * Custom events published to an event bus: $1.00 per million; each 64 KB chunk of an event is
   * billed as one event. https://aws.amazon.com/eventbridge/pricing/
   */
  eventBridgeEvent: 1.0 / 1e6,
  /**
   * Standard queue, first 100 billion requests a month: $0.40 per million; every API action is a
   * request, each 64 KB chunk of a payload is one request. https://aws.amazon.com/sqs/pricing/
   */
  sqsRequest: 0.4 / 1e6,
  /** On-demand, Standard table class: $0.625 per million write request units. https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  dynamoWru: 0.625 / 1e6,
  /** On-demand, Standard table class: $0.125 per million read request units. https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  dynamoRru: 0.125 / 1e6,
  /** Logs, Standard log class, data ingested: $0.50 per GB. https://aws.amazon.com/cloudwatch/pricing/ */
  logsIngestedGb: 0.5,
  /** $0.05 per 10,000 API calls. https://aws.amazon.com/secrets-manager/pricing/ */
  secretsCall: 0.05 / 10_000,
  /**
   * "Run Command is offered at no additional cost when used on Amazon EC2 nodes."
   * https://docs.aws.amazon.com/systems-manager/latest/userguide/run-command.html
   */
  ssmCommand: 0,
  /**
   * EventBridge Scheduler: "$1.00 per million invocations" after "14M invocations/month" free
   * (cloudburn.io's EventBridge pricing guide, March 2026, quoting aws.amazon.com/eventbridge/pricing/;
   * the official page was not in the stored corpus). Creating and deleting schedules is not billed
   * ("Creating and storing schedules is included; you pay for firing them", awsnegotiations.com).
   */
  schedulerInvocation: 1.0 / 1e6,
} as const;

/** Memory of every function (infra/constructs/rsqlo-function.ts default, 512 MB). */
export const LAMBDA_MEMORY_GB = 512 / 1024;

/** One GB, as CloudWatch bills it. */
const GB = 1024 ** 3;

/** Raw counts of one scenario, as the harness reports them (`usage()`) plus the job counts. */
export interface AwsUsage {
  jobs: number;
  successfulJobs: number;
  runs: number;
  lambda: Record<string, { invocations: number; billedMs: number }>;
  /** Wrapper state transitions (states entered, plus retries). */
  wrapperTransitions: number;
  /** Run deadline checks: one-time schedules created, and their (billed) target invocations. */
  schedulesCreated: number;
  schedulerInvocations: number;
  putEvents: { requests: number; entries: number; billedEvents: number };
  sqs: { requests: number; emptyReceives: number; byOperation: Record<string, number> };
  dynamo: {
    wru: number;
    rru: number;
    failedWriteUnits: number;
    byCaller: Record<string, { wru: number; rru: number }>;
    /** By `caller Operation`: requests and the units they consumed (failed writes included). */
    byRequest?: Record<string, { requests: number; units: number }>;
  };
  ssmCommands: number;
  stepFunctionsApi: Record<string, number>;
  putLogEvents: number;
  /** Bytes the agents shipped with PutLogEvents (message + 26 bytes per event). */
  logBytes: number;
  /** Bytes the functions wrote to their logs. */
  handlerLogBytes: number;
  secretsCalls: number;
}

export interface CostLine {
  service: string;
  unit: string;
  /** Billed units per job. */
  perJob: number;
  usdPer1000Jobs: number;
}

export interface CostReport {
  lines: CostLine[];
  usdPer1000Jobs: number;
  /** All billed state transitions (the wrapper's) ÷ jobs that completed. */
  transitionsPerSuccessfulJob: number;
  notes: string[];
}

/** The cost table of one scenario. Throws when the counts cannot be priced (no jobs). */
export function costOf(u: AwsUsage): CostReport {
  if (!(u.jobs > 0)) throw new Error(`costOf: a scenario needs jobs (got ${u.jobs})`);
  const per = (n: number) => n / u.jobs;
  const lines: CostLine[] = [];
  const add = (service: string, unit: string, total: number, price: number) =>
    lines.push({ service, unit, perJob: per(total), usdPer1000Jobs: per(total) * price * 1000 });
  const transitions = u.wrapperTransitions;
  add('Step Functions', 'state transitions', transitions, PRICES.stepFunctionsTransition);
  const invocations = Object.values(u.lambda).reduce((n, f) => n + f.invocations, 0);
  const gbSeconds = Object.values(u.lambda).reduce((n, f) => n + (f.billedMs / 1000) * LAMBDA_MEMORY_GB, 0);
  add('Lambda', 'invocations', invocations, PRICES.lambdaRequest);
  add('Lambda', 'GB-seconds', gbSeconds, PRICES.lambdaArmGbSecond);
  add('EventBridge', 'events published', u.putEvents.billedEvents, PRICES.eventBridgeEvent);
  add('SQS', 'requests', u.sqs.requests - u.sqs.emptyReceives, PRICES.sqsRequest);
  add('DynamoDB', 'write request units', u.dynamo.wru + u.dynamo.failedWriteUnits, PRICES.dynamoWru);
  add('DynamoDB', 'read request units', u.dynamo.rru, PRICES.dynamoRru);
  add('SSM Run Command', 'commands', u.ssmCommands, PRICES.ssmCommand);
  add('EventBridge Scheduler', 'invocations', u.schedulerInvocations, PRICES.schedulerInvocation);
  add('CloudWatch Logs', 'GB ingested', (u.logBytes + u.handlerLogBytes) / GB, PRICES.logsIngestedGb);
  const total = lines.reduce((n, l) => n + l.usdPer1000Jobs, 0);
  const api = Object.entries(u.stepFunctionsApi)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return {
    lines,
    usdPer1000Jobs: total,
    transitionsPerSuccessfulJob: transitions / Math.max(1, u.successfulJobs),
    notes: [
      `Step Functions: ${u.wrapperTransitions} wrapper transitions; API calls (${api || 'none'}) are not billed`,
      `EventBridge Scheduler: ${u.schedulesCreated} run check(s) created (CreateSchedule is not billed), ${u.schedulerInvocations} invocation(s) at their deadline (the watchdog's Lambda time and read are in the Lambda and DynamoDB lines)`,
      `SQS: ${u.sqs.emptyReceives} empty receives left out (the poller's idle cost is per hour, not per job); by action: ${Object.entries(
        u.sqs.byOperation,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      `Secrets Manager: ${u.secretsCalls} GetSecretValue call(s) (each host's first read) left out: the agent caches the secret (15 min by default), so a host reads it at most 96 times a day, whatever the job count — a cost per host and day (≤ $${(96 * PRICES.secretsCall).toFixed(5)}), like the hosts themselves`,
      `DynamoDB: ${u.dynamo.failedWriteUnits} of the write units are failed conditional writes (AWS bills them)`,
      `CloudWatch Logs: ${u.putLogEvents} PutLogEvents (${u.logBytes} bytes) from the agents + ${u.handlerLogBytes} bytes of function logs; Lambda's START/END/REPORT lines and storage are not counted`,
      'Lambda GB-seconds: handler time measured on this (shared) machine against DynamoDB Local and fauxqs',
      'not per job and not counted: the EC2 agent hosts, Logs storage, Lambda cold starts, free tiers',
    ],
  };
}

/** The table printed by `npm run bench`. */
export function formatCost(name: string, r: CostReport): string {
  const rows = r.lines.map((l) => [
    l.service,
    l.unit,
    l.perJob.toFixed(l.perJob !== 0 && l.perJob < 0.001 ? 9 : 3),
    `$${l.usdPer1000Jobs.toFixed(5)}`,
  ]);
  rows.push(['total', '', '', `$${r.usdPer1000Jobs.toFixed(5)}`]);
  const head = ['service', 'unit', 'per job', '$ / 1,000 jobs'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => (x[i] as string).length)));
  const line = (x: string[]) =>
    x.map((c, i) => (i < 2 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  ');
  return [
    `${name}: $${r.usdPer1000Jobs.toFixed(4)} per 1,000 jobs, ${r.transitionsPerSuccessfulJob.toFixed(3)} state transitions per successful job`,
    line(head),
    ...rows.map(line),
    ...r.notes.map((n) => `  - ${n}`),
  ].join('\n');
}
