/**
 * What a job costs on AWS, from the AWS-path harness's request counters (test/aws/harness.ts
 * `usage()`), at published us-east-1 prices. Free tiers are left out (a steady user is past them).
 *
 * Per service: the billed units per job and their price; the total per 1,000 jobs. What is not per
 * job is left out and named in `notes`: the SQS poller's empty receives (per hour, not per job),
 * CloudWatch Logs storage, Lambda cold starts, and the agent hosts themselves (EC2).
 */

/** Published prices, us-east-1, on-demand, each with the page it is from. */
export const PRICES = {
  /** "$0.025 per 1,000 state transitions" (US East (N. Virginia)); retries count as transitions. https://aws.amazon.com/step-functions/pricing/ */
  stepFunctionsTransition: 0.025 / 1000,
  /** Requests: $0.20 per 1M. https://aws.amazon.com/lambda/pricing/ */
  lambdaRequest: 0.2 / 1e6,
  /** Duration, Arm (the functions are arm64), first 7.5 billion GB-s: $0.0000133334 per GB-second. https://aws.amazon.com/lambda/pricing/ */
  lambdaArmGbSecond: 0.0000133334,
  /** Custom events published: $1.00 per million (each 64 KB chunk of an entry is one event). https://aws.amazon.com/eventbridge/pricing/ */
  eventBridgeEvent: 1.0 / 1e6,
  /** Standard queue: $0.40 per million requests (each 64 KB chunk of a request is one request). https://aws.amazon.com/sqs/pricing/ */
  sqsRequest: 0.4 / 1e6,
  /** On-demand: $0.625 per million write request units (since 2024-11-01). https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  dynamoWru: 0.625 / 1e6,
  /** On-demand: $0.125 per million read request units. https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  dynamoRru: 0.125 / 1e6,
  /** Logs, Standard class, data ingested: $0.50 per GB. https://aws.amazon.com/cloudwatch/pricing/ */
  logsIngestedGb: 0.5,
  /** $0.05 per 10,000 API calls. https://aws.amazon.com/secrets-manager/pricing/ */
  secretsCall: 0.05 / 10_000,
  /** Run Command on EC2 instances: no additional charge. https://aws.amazon.com/systems-manager/pricing/ */
  ssmCommand: 0,
} as const;

/** Memory of every function (infra/constructs/rsqlo-function.ts default). */
export const LAMBDA_MEMORY_GB = 512 / 1024;

/** Raw counts of one scenario, as the harness reports them. */
export interface AwsUsage {
  jobs: number;
  successfulJobs: number;
  runs: number;
  lambda: Record<string, { invocations: number; billedMs: number }>;
  /** Wrapper transitions (the simulator counts states entered and retries). */
  wrapperTransitions: number;
  /** The run watchdog's transitions per run (its deployed definition, the path of a run that ended). */
  watchdogTransitionsPerRun: number;
  /** The watchdog's GetItem per run, in read request units. */
  watchdogRruPerRun: number;
  putEvents: { requests: number; entries: number; billedEvents: number };
  sqs: { requests: number; emptyReceives: number; byOperation: Record<string, number> };
  dynamo: {
    wru: number;
    rru: number;
    failedWriteUnits: number;
    byCaller: Record<string, { wru: number; rru: number }>;
  };
  ssmCommands: number;
  stepFunctionsApi: Record<string, number>;
  putLogEvents: number;
  logBytes: number;
  secretsCalls: number;
}

export interface CostLine {
  service: string;
  unit: string;
  perJob: number;
  usdPer1000Jobs: number;
}

export interface CostReport {
  lines: CostLine[];
  usdPer1000Jobs: number;
  transitionsPerSuccessfulJob: number;
  notes: string[];
}

/** The cost table of one scenario. */
export function costOf(u: AwsUsage): CostReport {
  const per = (n: number) => n / u.jobs;
  const lines: CostLine[] = [];
  const add = (service: string, unit: string, total: number, price: number) =>
    lines.push({ service, unit, perJob: per(total), usdPer1000Jobs: per(total) * price * 1000 });
  const transitions = u.wrapperTransitions + u.watchdogTransitionsPerRun * u.runs;
  add('Step Functions', 'state transitions', transitions, PRICES.stepFunctionsTransition);
  const invocations = Object.values(u.lambda).reduce((n, f) => n + f.invocations, 0);
  const gbSeconds = Object.values(u.lambda).reduce((n, f) => n + (f.billedMs / 1000) * LAMBDA_MEMORY_GB, 0);
  add('Lambda', 'invocations', invocations, PRICES.lambdaRequest);
  add('Lambda', 'GB-seconds (measured here: an upper bound)', gbSeconds, PRICES.lambdaArmGbSecond);
  add('EventBridge', 'events published (64 KB chunks)', u.putEvents.billedEvents, PRICES.eventBridgeEvent);
  add('SQS', 'requests', u.sqs.requests - u.sqs.emptyReceives, PRICES.sqsRequest);
  add('DynamoDB', 'write request units', u.dynamo.wru + u.dynamo.failedWriteUnits, PRICES.dynamoWru);
  add('DynamoDB', 'read request units', u.dynamo.rru + u.watchdogRruPerRun * u.runs, PRICES.dynamoRru);
  add('SSM Run Command', 'commands', u.ssmCommands, PRICES.ssmCommand);
  add('CloudWatch Logs', 'GB ingested', u.logBytes / 1024 ** 3, PRICES.logsIngestedGb);
  add('Secrets Manager', 'GetSecretValue calls', u.secretsCalls, PRICES.secretsCall);
  const total = lines.reduce((n, l) => n + l.usdPer1000Jobs, 0);
  return {
    lines,
    usdPer1000Jobs: total,
    transitionsPerSuccessfulJob: transitions / Math.max(1, u.successfulJobs),
    notes: [
      `SQS: ${u.sqs.emptyReceives} empty receives left out (the poller's idle cost is per hour, not per job)`,
      `Step Functions: ${u.wrapperTransitions} wrapper transitions + ${u.watchdogTransitionsPerRun} per run for the run watchdog; API calls (${Object.entries(
        u.stepFunctionsApi,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}) are not billed for Standard workflows`,
      'Lambda GB-seconds: handler time measured on this shared machine against DynamoDB Local; AWS bills less',
      'not per job: Logs storage, Lambda cold starts, the EC2 agent hosts, free tiers',
    ],
  };
}

/** The table printed by `npm run bench`. */
export function formatCost(name: string, r: CostReport): string {
  const rows = r.lines.map((l) => [
    l.service,
    l.unit,
    l.perJob.toFixed(3),
    `$${l.usdPer1000Jobs.toFixed(5)}`,
  ]);
  rows.push(['total', '', '', `$${r.usdPer1000Jobs.toFixed(5)}`]);
  const head = ['service', 'unit', 'per job', '$ / 1,000 jobs'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => (x[i] as string).length)));
  const line = (x: string[]) =>
    x.map((c, i) => (i < 2 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  ');
  return [
    `${name}: $${r.usdPer1000Jobs.toFixed(4)} per 1,000 jobs, ${r.transitionsPerSuccessfulJob.toFixed(2)} state transitions per successful job`,
    line(head),
    ...rows.map(line),
    ...r.notes.map((n) => `  - ${n}`),
  ].join('\n');
}

type Rule = {
  Variable?: string;
  StringEquals?: string;
  IsPresent?: boolean;
  Or?: Rule[];
  And?: Rule[];
  Next?: string;
};

function at(path: string, input: unknown): unknown {
  let v: unknown = input;
  for (const k of path
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean))
    v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

function holds(r: Rule, input: unknown): boolean {
  if (r.Or) return r.Or.some((x) => holds(x, input));
  if (r.And) return r.And.every((x) => holds(x, input));
  const v = r.Variable ? at(r.Variable, input) : undefined;
  if (r.IsPresent !== undefined) return (v !== undefined) === r.IsPresent;
  if (r.StringEquals !== undefined) return v === r.StringEquals;
  throw new Error(`watchdog path: rule ${JSON.stringify(r)} is not understood`);
}

/**
 * The states one execution of a (small, loop-free) definition enters for `input`: what Step
 * Functions bills it. Follows Choice rules (StringEquals, IsPresent, And, Or), Next and Default;
 * Succeed, Fail and End stop. Used for the run watchdog, whose path for a run that ended is fixed.
 */
export function statesEntered(
  definition: { StartAt: string; States: Record<string, Record<string, unknown>> },
  input: unknown,
): string[] {
  const path: string[] = [];
  let name: string | undefined = definition.StartAt;
  while (name !== undefined) {
    if (path.length > 100) throw new Error('statesEntered: the definition loops');
    const st: Record<string, unknown> | undefined = definition.States[name];
    if (!st) throw new Error(`statesEntered: no state ${name}`);
    path.push(name);
    if (st.Type === 'Succeed' || st.Type === 'Fail' || st.End === true) break;
    if (st.Type === 'Choice') {
      const hit: Rule | undefined = (st.Choices as Rule[]).find((c) => holds(c, input));
      name = hit?.Next ?? (st.Default as string | undefined);
    } else name = st.Next as string | undefined;
  }
  return path;
}
