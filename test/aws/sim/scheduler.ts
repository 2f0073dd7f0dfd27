/**
 * EventBridge Scheduler as the AWS-path harness needs it (there is no emulator): CreateSchedule,
 * validated against the limits of Scheduler's API model (aws-sdk-js-v3
 * codegen/sdk-codegen/aws-models/scheduler.json, AWS's own Smithy model of the service, each rule
 * quoted below), and one-time `at()` schedules that invoke their Lambda target with the schedule's
 * Input at their time — or at once when a test lets the deadlines pass ({@link elapse}) — and then
 * delete themselves (ActionAfterCompletion DELETE).
 *
 * Known simplifications (test/aws/FIDELITY.md): only `at()` expressions in UTC and Lambda targets;
 * a failed invocation is retried twice at once, then recorded as dead-lettered (AWS retries with
 * backoff for up to MaximumEventAgeInSeconds); a past `at()` is refused (AWS's behaviour for it is
 * not documented in the stored corpus; rsqlo never sends one: runtime/aws/scheduler-run-watch.ts).
 */
import type { CreateScheduleCommandInput } from '@aws-sdk/client-scheduler';

/** A Scheduler error as the SDK surfaces it (`name` is what callers match). */
export class SchedulerError extends Error {
  constructor(
    override readonly name: 'ValidationException' | 'ConflictException' | 'ResourceNotFoundException',
    message: string,
  ) {
    super(message);
  }
}

/** Model rule: `com.amazonaws.scheduler#Name` — "smithy.api#length": {"min": 1, "max": 64}, "smithy.api#pattern": "^[0-9a-zA-Z-_.]+$". */
export const NAME_PATTERN = /^[0-9a-zA-Z_.-]{1,64}$/;
/** Model rule: `#ScheduleGroupName` — length 1–64, pattern "^[0-9a-zA-Z-_.]+$". */
export const GROUP_NAME_PATTERN = /^[0-9a-zA-Z_.-]{1,64}$/;
/** Model rule: `#RoleArn` — length 1–1600, pattern "^arn:aws(-[a-z]+)?:iam::\\d{12}:role\\/[\\w+=,.@\\/-]+$". */
export const ROLE_ARN_PATTERN = /^arn:aws(-[a-z]+)?:iam::\d{12}:role\/[\w+=,.@/-]+$/;
/** Model rule: `#DeadLetterConfig` Arn — pattern "^arn:aws(-[a-z]+)?:sqs:[a-z0-9\\-]+:\\d{12}:[a-zA-Z0-9\\-_]+$". */
export const DLQ_ARN_PATTERN = /^arn:aws(-[a-z]+)?:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9_-]+$/;
/** Model doc of ScheduleExpression: "at expression - at(yyyy-mm-ddThh:mm:ss)". */
export const AT_PATTERN = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/;

/** The time of an `at(yyyy-mm-ddThh:mm:ss)` expression in UTC (ms), or undefined when malformed. */
export function atTime(expression: string): number | undefined {
  const m = AT_PATTERN.exec(expression);
  if (!m) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
  const t = Date.parse(iso);
  // Date.parse rolls 2024-02-30 over; a real calendar date round-trips.
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 19) !== iso.slice(0, 19)) return undefined;
  return t;
}

/** Every limit CreateSchedule checks that this input breaks (empty: valid). */
export function createScheduleViolations(i: CreateScheduleCommandInput, now: number): string[] {
  const out: string[] = [];
  const len = (v: string | undefined, min: number, max: number) =>
    v !== undefined && v.length >= min && v.length <= max;
  if (!i.Name || !NAME_PATTERN.test(i.Name))
    out.push(`Name ${JSON.stringify(i.Name)}: 1-64 of [0-9a-zA-Z-_.]`);
  if (i.GroupName !== undefined && !GROUP_NAME_PATTERN.test(i.GroupName))
    out.push(`GroupName ${JSON.stringify(i.GroupName)}: 1-64 of [0-9a-zA-Z-_.]`);
  // Model: "#ScheduleExpression": length 1–256.
  if (!len(i.ScheduleExpression, 1, 256)) out.push('ScheduleExpression: 1-256 characters, required');
  else {
    const t = atTime(i.ScheduleExpression as string);
    if (t === undefined) out.push(`ScheduleExpression ${i.ScheduleExpression}: not at(yyyy-mm-ddThh:mm:ss)`);
    else if (t <= now) out.push(`ScheduleExpression ${i.ScheduleExpression}: in the past`);
  }
  // Model: "#ScheduleExpressionTimezone": length 1–50 (only UTC is simulated).
  if (i.ScheduleExpressionTimezone !== undefined && i.ScheduleExpressionTimezone !== 'UTC')
    out.push(`ScheduleExpressionTimezone ${i.ScheduleExpressionTimezone}: only UTC is simulated`);
  // Model: FlexibleTimeWindow is required; Mode "OFF" | "FLEXIBLE"; MaximumWindowInMinutes 1–1440.
  const w = i.FlexibleTimeWindow;
  if (!w || (w.Mode !== 'OFF' && w.Mode !== 'FLEXIBLE'))
    out.push('FlexibleTimeWindow.Mode: OFF or FLEXIBLE, required');
  else if (
    w.Mode === 'FLEXIBLE' &&
    !(Number(w.MaximumWindowInMinutes) >= 1 && Number(w.MaximumWindowInMinutes) <= 1440)
  )
    out.push('FlexibleTimeWindow.MaximumWindowInMinutes: 1-1440 when FLEXIBLE');
  // Model: "#ActionAfterCompletion" enum NONE | DELETE; "#ScheduleState" ENABLED | DISABLED.
  if (i.ActionAfterCompletion !== undefined && !['NONE', 'DELETE'].includes(i.ActionAfterCompletion))
    out.push(`ActionAfterCompletion ${i.ActionAfterCompletion}: NONE or DELETE`);
  if (i.State !== undefined && !['ENABLED', 'DISABLED'].includes(i.State)) out.push(`State ${i.State}`);
  // Model: "#Description": length 0–512.
  if (i.Description !== undefined && i.Description.length > 512)
    out.push('Description: at most 512 characters');
  const t = i.Target;
  if (!t) out.push('Target: required');
  else {
    // Model: "#TargetArn": length 1–1600, required; RoleArn required, its pattern.
    if (!len(t.Arn, 1, 1600)) out.push('Target.Arn: 1-1600 characters, required');
    if (!t.RoleArn || !ROLE_ARN_PATTERN.test(t.RoleArn) || t.RoleArn.length > 1600)
      out.push(`Target.RoleArn ${JSON.stringify(t.RoleArn)}: an IAM role ARN, required`);
    // Model: "#TargetInput": length min 1; "If you are configuring a templated Lambda, AWS Step
    // Functions, or Amazon EventBridge target, the input must be a well-formed JSON."
    if (t.Input !== undefined) {
      if (t.Input.length < 1) out.push('Target.Input: at least 1 character');
      else if (/:lambda:/.test(t.Arn ?? ''))
        try {
          JSON.parse(t.Input);
        } catch {
          out.push('Target.Input: a Lambda target needs well-formed JSON');
        }
    }
    // Model: "#MaximumRetryAttempts" 0–185; "#MaximumEventAgeInSeconds" 60–86400.
    const r = t.RetryPolicy;
    if (
      r?.MaximumRetryAttempts !== undefined &&
      !(r.MaximumRetryAttempts >= 0 && r.MaximumRetryAttempts <= 185)
    )
      out.push('Target.RetryPolicy.MaximumRetryAttempts: 0-185');
    if (
      r?.MaximumEventAgeInSeconds !== undefined &&
      !(r.MaximumEventAgeInSeconds >= 60 && r.MaximumEventAgeInSeconds <= 86_400)
    )
      out.push('Target.RetryPolicy.MaximumEventAgeInSeconds: 60-86400');
    if (t.DeadLetterConfig && !DLQ_ARN_PATTERN.test(t.DeadLetterConfig.Arn ?? ''))
      out.push(`Target.DeadLetterConfig.Arn ${JSON.stringify(t.DeadLetterConfig.Arn)}: an SQS queue ARN`);
  }
  return out;
}

/** One invocation of a schedule's target. */
export interface FiredSchedule {
  name: string;
  group: string;
  input: unknown;
  /** What the target returned (its last attempt). */
  result?: unknown;
  error?: string;
  attempts: number;
}

export interface SchedulerSimulatorOptions {
  account: string;
  region: string;
  /** Lambda targets by function ARN. */
  targets: Record<string, (payload: unknown) => Promise<unknown>>;
}

interface Stored {
  input: CreateScheduleCommandInput;
  at: number;
  timer?: NodeJS.Timeout;
}

export class SchedulerSimulator {
  /** Every CreateSchedule request, as sent (refused ones included). */
  readonly requests: CreateScheduleCommandInput[] = [];
  /** Requests refused for a limit (a ValidationException our code caused). */
  readonly violations: string[] = [];
  readonly fired: FiredSchedule[] = [];
  /** Invocations that failed every attempt (AWS: to the schedule's dead-letter queue). */
  readonly deadLetters: FiredSchedule[] = [];
  /** Schedules created (what exists, or existed before it deleted itself). */
  created = 0;
  /** Target invocations (each billed by Scheduler). */
  invocations = 0;
  private readonly schedules = new Map<string, Stored>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: SchedulerSimulatorOptions) {}

  createSchedule(input: CreateScheduleCommandInput): { ScheduleArn: string } {
    this.requests.push(structuredClone(input));
    const problems = createScheduleViolations(input, Date.now());
    if (problems.length) {
      this.violations.push(...problems.map((p) => `${input.Name}: ${p}`));
      throw new SchedulerError('ValidationException', problems.join('; '));
    }
    const group = input.GroupName ?? 'default';
    const key = `${group}/${input.Name}`;
    if (this.schedules.has(key))
      throw new SchedulerError('ConflictException', `Schedule ${input.Name} already exists.`);
    const at = atTime(input.ScheduleExpression as string) as number;
    const stored: Stored = { input: structuredClone(input), at };
    this.schedules.set(key, stored);
    this.created++;
    // Fires on its own when its time comes during the test (tests usually elapse() instead).
    const wait = at - Date.now();
    if (wait < 2 ** 31 - 1) {
      stored.timer = setTimeout(() => this.fire(key), wait);
      stored.timer.unref();
    }
    return {
      ScheduleArn: `arn:aws:scheduler:${this.opts.region}:${this.opts.account}:schedule/${key}`,
    };
  }

  /** Schedules waiting for their time. */
  pending(): string[] {
    return [...this.schedules.keys()];
  }

  /** Lets every schedule's time pass now; resolves with what fired once every invocation ended. */
  async elapse(): Promise<FiredSchedule[]> {
    const before = this.fired.length;
    for (const key of [...this.schedules.keys()]) this.fire(key);
    while (this.running.size > 0) await Promise.all([...this.running]);
    return this.fired.slice(before);
  }

  private fire(key: string) {
    const s = this.schedules.get(key);
    if (!s || this.closed) return;
    if (s.timer) clearTimeout(s.timer);
    this.schedules.delete(key); // one-time: it fires once (and, with DELETE, is gone after)
    const target = s.input.Target;
    const fn = this.opts.targets[target?.Arn ?? ''];
    const record: FiredSchedule = {
      name: s.input.Name as string,
      group: s.input.GroupName ?? 'default',
      input: JSON.parse(target?.Input ?? '{}'),
      attempts: 0,
    };
    const run = (async () => {
      for (let attempt = 1; attempt <= 3; attempt++) {
        record.attempts = attempt;
        this.invocations++;
        try {
          if (!fn) throw new Error(`no target ${target?.Arn}`);
          record.result = await fn(record.input);
          record.error = undefined;
          break;
        } catch (err) {
          record.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        }
      }
      this.fired.push(record);
      if (record.error) this.deadLetters.push(record);
      // ActionAfterCompletion NONE would keep the (completed) schedule; the simulator only tracks
      // schedules still to fire, so both end the same here.
    })();
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  dispose() {
    this.closed = true;
    for (const s of this.schedules.values()) if (s.timer) clearTimeout(s.timer);
    this.schedules.clear();
  }
}
