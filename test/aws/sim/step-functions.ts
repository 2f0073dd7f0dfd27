/**
 * A Step Functions simulator for the single-job wrapper and the run watchdog, driven by their
 * DEPLOYED definitions (infra/constructs/job-wrapper.ts `deployedWrapperDefinitionString()`,
 * infra/constructs/run-watchdog.ts `watchdogDefinition()`, placeholders replaced): it interprets the
 * definition's states rather than knowing what the state machine is meant to do.
 *
 * What it honours, per the Step Functions developer guide and API reference:
 * - StartExecution: names of at most 80 characters without the forbidden characters; the same name
 *   again is ExecutionAlreadyExists, except with the same input while the execution still runs,
 *   which Standard workflows answer idempotently with the original response.
 * - Task `arn:aws:states:::lambda:invoke.waitForTaskToken`: Parameters evaluated (`$$.Task.Token`,
 *   `$`), the function invoked asynchronously with the payload; the state waits for
 *   SendTaskSuccess / SendTaskFailure with a fresh token per attempt, bounded by
 *   TimeoutSecondsPath (States.Timeout) and HeartbeatSecondsPath (States.HeartbeatTimeout, reset by
 *   SendTaskHeartbeat). A function error fails the task with the error's name (the Lambda
 *   `errorType`) and a JSON cause.
 * - Task `arn:aws:states:::events:putEvents`: Parameters evaluated (States.Format,
 *   `$$.State.EnteredTime`…), Detail objects serialized, put through the harness's EventBridge.
 * - Task `arn:aws:states:::dynamodb:getItem`: Parameters evaluated, sent to DynamoDB (the harness
 *   sends it to DynamoDB Local); the result is the GetItem response; an error fails the task as
 *   `DynamoDB.<error name>`.
 * - Choice (Choices tried in order, the first match wins, else Default, else States.NoChoiceMatched;
 *   rules per asl.ts `choiceMatches`), Wait (Seconds / SecondsPath / Timestamp / TimestampPath:
 *   real time, or until {@link WrapperSimulator.elapseWaits} says the time has passed; timestamps
 *   checked against the guide's format and truncated to the second, see {@link waitUntilMs}).
 * - Retry (ErrorEquals, IntervalSeconds × BackoffRate^n, MaxAttempts; intervals scaled by
 *   `retryScale`), Catch (ErrorEquals, ResultPath, Next), ResultPath, Pass, Succeed, Fail.
 * - SendTask* for a token whose task has ended: TaskTimedOut (timed out or completed) or
 *   TaskDoesNotExist (its execution was stopped); an unknown token: InvalidToken. StopExecution
 *   aborts a running execution (ExecutionDoesNotExist for an unknown one).
 *
 * Time is real: tests that exercise timeouts give their jobs a few seconds.
 *
 * This file is the service: the API calls, task tokens, time and the Task resources (service
 * integrations). The States Language itself is interpreted by states-interpreter.ts over the shapes
 * of states-model.ts.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidName,
  InvalidOutput,
  InvalidToken,
  StateMachineDoesNotExist,
  TaskDoesNotExist,
  TaskTimedOut,
  ValidationException,
} from '@aws-sdk/client-sfn';
import { type AslContext, evaluateParameters, readPath } from './asl.js';
import { type InterpreterHost, runExecution } from './states-interpreter.js';
import {
  type Definition,
  executionArnOf,
  parseDefinition,
  type SimExecution,
  type StateDef,
  StatesError,
  type TaskOutcome,
} from './states-model.js';

export {
  type ExecutionStatus,
  executionArnOf,
  type SimExecution,
  StatesError,
  type TaskOutcome,
  waitUntilMs,
} from './states-model.js';

const meta = { $metadata: { httpStatusCode: 400 } };

interface OpenTask {
  token: string;
  exec: SimExecution;
  settle: (r: TaskOutcome) => void;
  heartbeatMs: number | undefined;
  heartbeatTimer?: NodeJS.Timeout;
  timeoutTimer?: NodeJS.Timeout;
}

export interface WrapperSimulatorOptions {
  /** The deployed definition string with its placeholders replaced. */
  definition: string;
  stateMachineArn: string;
  /** Invokes a Lambda function by the name/ARN the definition gives (throws the function's error). */
  invoke?(functionName: string, payload: unknown): Promise<unknown>;
  /** Puts entries on the bus (the events:putEvents integration); throws when the bus refuses. */
  putEvents?(entries: PutEventsRequestEntry[]): Promise<{ FailedEntryCount?: number }>;
  /** Sends a DynamoDB request (the dynamodb:getItem integration); throws the service's error. */
  dynamodb?(operation: 'GetItem', params: Record<string, unknown>): Promise<unknown>;
  /** Multiplies Retry intervals (default 1): the definition's 2 s … 64 s backoff in less real time. */
  retryScale?: number;
  /** Invoke the task function twice per attempt (at-least-once invocation). */
  duplicateInvocations?: boolean;
}

/** Step Functions error names that mean "no longer waiting", by what ended the task. */
type Closed = 'completed' | 'timed-out' | 'aborted';

const FORBIDDEN_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

/** The simulated state machine (one per harness). */
export class WrapperSimulator {
  private def: Definition;
  private readonly executionsByName = new Map<string, SimExecution>();
  private readonly open = new Map<string, OpenTask>();
  private readonly closed = new Map<string, Closed>();
  private readonly running = new Set<Promise<void>>();
  private readonly sleeps = new Map<NodeJS.Timeout, () => void>();
  private readonly waits = new Set<() => void>();
  private waitsElapsed = false;
  private disposed = false;
  /** SendTask* answers, for assertions: which call got which outcome. */
  readonly callbacks: Array<{ command: string; exec: string | undefined; outcome: string }> = [];
  /** Things the definition asked for that the simulator refused (should stay empty). */
  readonly violations: string[] = [];

  /** The interpreter's view of this simulator. */
  private readonly host: InterpreterHost;

  constructor(private readonly opts: WrapperSimulatorOptions) {
    this.def = parseDefinition(opts.definition);
    this.host = {
      stateMachineArn: opts.stateMachineArn,
      retryScale: opts.retryScale ?? 1,
      violations: this.violations,
      isDisposed: () => this.disposed,
      sleep: (ms) => this.sleep(ms),
      wait: (seconds) => this.wait(seconds),
      runTask: (exec, state, data, ctx) => this.runTask(exec, state, data, ctx),
    };
  }

  /**
   * UpdateStateMachine: executions started from now on use `definition`; running ones keep theirs
   * (as Step Functions does).
   */
  redefine(definition: string): void {
    this.def = parseDefinition(definition);
  }

  /**
   * The time every Wait state waits for has passed: Wait states running now end, and later ones
   * do not wait. (The run watchdog waits hours; a measurement lets them pass once the run ended.)
   */
  elapseWaits(): void {
    this.waitsElapsed = true;
    for (const w of [...this.waits]) w();
  }

  executions(): SimExecution[] {
    return [...this.executionsByName.values()];
  }

  execution(name: string): SimExecution | undefined {
    return this.executionsByName.get(name);
  }

  /** Executions still running. */
  runningCount(): number {
    return this.executions().filter((e) => e.status === 'RUNNING').length;
  }

  /** Every task token issued so far (for "never leaked" checks). */
  readonly tokens: string[] = [];

  // -- the API -------------------------------------------------------------------------------

  startExecution(input: { stateMachineArn?: string; name?: string; input?: string }) {
    if (input.stateMachineArn !== this.opts.stateMachineArn)
      throw new StateMachineDoesNotExist({
        message: `State Machine Does Not Exist: '${input.stateMachineArn}'`,
        ...meta,
      });
    const name = input.name ?? randomUUID();
    if (name.length < 1 || name.length > 80 || FORBIDDEN_NAME.test(name))
      throw new InvalidName({ message: `Invalid Name: '${name}'`, ...meta });
    const text = input.input ?? '{}';
    if (Buffer.byteLength(text) > 262_144)
      throw new ValidationException({ message: 'input exceeds 256 KiB', ...meta });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ValidationException({ message: 'input is not JSON', ...meta });
    }
    const existing = this.executionsByName.get(name);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === text)
        return { executionArn: existing.arn, startDate: existing.startDate };
      throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${existing.arn}'`, ...meta });
    }
    const exec: SimExecution = {
      arn: executionArnOf(this.opts.stateMachineArn, name),
      name,
      input: text,
      status: 'RUNNING',
      startDate: new Date(),
      path: [],
      invocations: 0,
      transitions: 0,
    };
    this.executionsByName.set(name, exec);
    const p = runExecution(this.host, this.def, exec, parsed).catch((err: unknown) => {
      this.violations.push(`execution ${name} crashed: ${(err as Error).message}`);
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return { executionArn: exec.arn, startDate: exec.startDate };
  }

  stopExecution(input: { executionArn?: string; error?: string; cause?: string }) {
    const exec = this.executions().find((e) => e.arn === input.executionArn);
    if (!exec)
      throw new ExecutionDoesNotExist({
        message: `Execution Does Not Exist: '${input.executionArn}'`,
        ...meta,
      });
    if ((input.error ?? '').length > 256 || (input.cause ?? '').length > 32_768)
      throw new ValidationException({ message: 'error/cause too long', ...meta });
    if (exec.status === 'RUNNING') {
      exec.status = 'ABORTED';
      exec.stopDate = new Date();
      exec.error = input.error;
      exec.cause = input.cause;
      for (const t of this.open.values())
        if (t.exec === exec)
          this.settleTask(t, { ok: false, error: new StatesError('(aborted)', '') }, 'aborted');
    }
    return { stopDate: exec.stopDate ?? new Date() };
  }

  describeExecution(input: { executionArn?: string }) {
    const exec = this.executions().find((e) => e.arn === input.executionArn);
    if (!exec)
      throw new ExecutionDoesNotExist({
        message: `Execution Does Not Exist: '${input.executionArn}'`,
        ...meta,
      });
    return {
      executionArn: exec.arn,
      stateMachineArn: this.opts.stateMachineArn,
      name: exec.name,
      status: exec.status,
      startDate: exec.startDate,
      stopDate: exec.stopDate,
      error: exec.error,
      cause: exec.cause,
    };
  }

  sendTaskSuccess(input: { taskToken?: string; output?: string }) {
    const task = this.taskFor('SendTaskSuccess', input.taskToken);
    const output = input.output ?? '';
    let parsed: unknown;
    try {
      if (Buffer.byteLength(output) > 262_144) throw new Error('too large');
      parsed = JSON.parse(output);
    } catch {
      throw new InvalidOutput({ message: 'Invalid Output', ...meta });
    }
    this.answer('SendTaskSuccess', task, 'delivered');
    this.settleTask(task, { ok: true, output: parsed }, 'completed');
    return {};
  }

  sendTaskFailure(input: { taskToken?: string; error?: string; cause?: string }) {
    if ((input.error ?? '').length > 256 || (input.cause ?? '').length > 32_768)
      throw new ValidationException({ message: 'error/cause too long', ...meta });
    const task = this.taskFor('SendTaskFailure', input.taskToken);
    this.answer('SendTaskFailure', task, 'delivered');
    this.settleTask(task, { ok: false, error: new StatesError(input.error ?? '', input.cause) }, 'completed');
    return {};
  }

  sendTaskHeartbeat(input: { taskToken?: string }) {
    const task = this.taskFor('SendTaskHeartbeat', input.taskToken);
    this.answer('SendTaskHeartbeat', task, 'delivered');
    this.armHeartbeat(task);
    return {};
  }

  /** Waits for running executions' interpreters to finish (after dispose, or when all ended). */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const t of this.open.values())
      this.settleTask(t, { ok: false, error: new StatesError('(disposed)', '') }, 'aborted');
    // Sleeping executions wake and see `disposed` (a cleared timer alone would leave them waiting).
    for (const [t, wake] of this.sleeps) {
      clearTimeout(t);
      wake();
    }
    this.sleeps.clear();
    for (const w of [...this.waits]) w();
    await Promise.allSettled([...this.running]);
  }

  // -- tokens --------------------------------------------------------------------------------

  private taskFor(command: string, token: string | undefined): OpenTask {
    const open = token ? this.open.get(token) : undefined;
    if (open) return open;
    const why = token ? this.closed.get(token) : undefined;
    const exec = token ? this.execOfToken.get(token)?.name : undefined;
    if (why === 'aborted') {
      this.callbacks.push({ command, exec, outcome: 'TaskDoesNotExist' });
      throw new TaskDoesNotExist({ message: 'Task Does Not Exist', ...meta });
    }
    if (why) {
      this.callbacks.push({ command, exec, outcome: 'TaskTimedOut' });
      throw new TaskTimedOut({ message: "Task Timed Out: 'Provided task does not exist anymore'", ...meta });
    }
    this.callbacks.push({ command, exec, outcome: 'InvalidToken' });
    throw new InvalidToken({ message: 'Invalid Token', ...meta });
  }

  private readonly execOfToken = new Map<string, SimExecution>();

  private answer(command: string, task: OpenTask, outcome: string) {
    this.callbacks.push({ command, exec: task.exec.name, outcome });
  }

  private newToken(exec: SimExecution): string {
    // Shaped like a real token (long, base64-ish); the middle marker lets tests prove it never leaks
    // (redacted forms show only its first 6–8 and last 4 characters).
    const token = `AQB${randomBytes(6).toString('hex')}TOKENBODY${randomBytes(470).toString('base64url')}`;
    this.tokens.push(token);
    this.execOfToken.set(token, exec);
    return token;
  }

  private settleTask(task: OpenTask, result: TaskOutcome, why: Closed) {
    if (!this.open.has(task.token)) return;
    this.open.delete(task.token);
    this.closed.set(task.token, why);
    clearTimeout(task.heartbeatTimer);
    clearTimeout(task.timeoutTimer);
    task.settle(result);
  }

  private armHeartbeat(task: OpenTask) {
    if (task.heartbeatMs === undefined) return;
    clearTimeout(task.heartbeatTimer);
    task.heartbeatTimer = setTimeout(
      () =>
        this.settleTask(
          task,
          { ok: false, error: new StatesError('States.HeartbeatTimeout', 'no heartbeat received') },
          'timed-out',
        ),
      task.heartbeatMs,
    );
  }

  // -- time ----------------------------------------------------------------------------------

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeps.delete(t);
        resolve();
      }, ms);
      this.sleeps.set(t, resolve);
    });
  }

  /** A Wait state: `seconds` of real time, cut short by {@link elapseWaits} or dispose. */
  private async wait(seconds: number): Promise<void> {
    if (this.waitsElapsed) return;
    let wake!: () => void;
    const woken = new Promise<void>((r) => {
      wake = r;
    });
    this.waits.add(wake);
    try {
      // setTimeout holds at most 2^31-1 ms (about 24.8 days); longer waits sleep in steps.
      let left = seconds * 1000;
      while (left > 0 && !this.waitsElapsed && !this.disposed) {
        const step = Math.min(left, 2 ** 31 - 1);
        await Promise.race([this.sleep(step), woken]);
        left -= step;
      }
    } finally {
      this.waits.delete(wake);
    }
  }
  // -- task resources (the service integrations) ----------------------------------------------

  private async runTask(
    exec: SimExecution,
    state: StateDef,
    data: unknown,
    ctx: AslContext,
  ): Promise<unknown> {
    const resource = state.Resource ?? '';
    if (resource === 'arn:aws:states:::dynamodb:getItem') {
      if (!this.opts.dynamodb) throw new StatesError('States.Runtime', 'no DynamoDB for this state machine');
      const params = evaluateParameters(state.Parameters, data, ctx) as Record<string, unknown>;
      try {
        return await this.opts.dynamodb('GetItem', params);
      } catch (err) {
        throw new StatesError(`DynamoDB.${(err as Error).name}`, (err as Error).message);
      }
    }
    if (resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken') {
      const invoke = this.opts.invoke;
      if (!invoke) throw new StatesError('States.Runtime', 'no Lambda for this state machine');
      const token = this.newToken(exec);
      ctx.Task = { Token: token };
      const params = evaluateParameters(state.Parameters, data, ctx) as {
        FunctionName?: string;
        Payload?: unknown;
      };
      if (!params.FunctionName) throw new StatesError('States.Runtime', 'no FunctionName');
      const seconds = (fixed: number | undefined, path: string | undefined): number | undefined => {
        if (path === undefined) return fixed;
        const v = readPath(path, data, ctx);
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
          throw new StatesError('States.Runtime', `${path} is not a positive integer`);
        return v;
      };
      const timeout = seconds(state.TimeoutSeconds, state.TimeoutSecondsPath) ?? 99_999_999;
      const heartbeat = seconds(state.HeartbeatSeconds, state.HeartbeatSecondsPath);
      // The States Language: HeartbeatSeconds MUST be smaller than TimeoutSeconds.
      if (heartbeat !== undefined && heartbeat >= timeout)
        this.violations.push(
          `${exec.name}: HeartbeatSeconds ${heartbeat} is not below TimeoutSeconds ${timeout}`,
        );
      const result = new Promise<TaskOutcome>((settle) => {
        const task: OpenTask = {
          token,
          exec,
          settle,
          heartbeatMs: heartbeat === undefined ? undefined : heartbeat * 1000,
        };
        this.open.set(token, task);
        task.timeoutTimer = setTimeout(
          () =>
            this.settleTask(
              task,
              { ok: false, error: new StatesError('States.Timeout', 'the task timed out') },
              'timed-out',
            ),
          timeout * 1000,
        );
        this.armHeartbeat(task);
        void this.invokeTask(exec, task, invoke, params.FunctionName as string, params.Payload);
      });
      const r = await result;
      if (r.ok) return r.output;
      throw r.error;
    }
    if (resource === 'arn:aws:states:::events:putEvents') {
      const params = evaluateParameters(state.Parameters, data, ctx) as {
        Entries?: Array<Record<string, unknown>>;
      };
      const entries = (params.Entries ?? []).map((e) => ({
        ...e,
        Detail: typeof e.Detail === 'string' ? e.Detail : JSON.stringify(e.Detail),
      })) as PutEventsRequestEntry[];
      let out: { FailedEntryCount?: number };
      if (!this.opts.putEvents)
        throw new StatesError('States.Runtime', 'no EventBridge for this state machine');
      try {
        out = await this.opts.putEvents(entries);
      } catch (err) {
        throw new StatesError(`EventBridge.${(err as Error).name}`, (err as Error).message);
      }
      if ((out.FailedEntryCount ?? 0) > 0)
        throw new StatesError('EventBridge.FailedEntry', JSON.stringify(out));
      return out;
    }
    throw new StatesError('States.Runtime', `resource ${resource} is not simulated`);
  }

  /**
   * Invokes the task function (twice when duplicating); a function error fails the task while it is
   * open. The copy is invoked even when the task has already closed (the job ran and reported
   * before the first invocation returned): a late duplicate — a retried invoke whose first call did
   * run — is exactly the case the task entry's idempotency must absorb, and it must not depend on
   * how fast the job was.
   */
  private async invokeTask(
    exec: SimExecution,
    task: OpenTask,
    invoke: (fn: string, payload: unknown) => Promise<unknown>,
    fn: string,
    payload: unknown,
  ) {
    const times = this.opts.duplicateInvocations ? 2 : 1;
    for (let i = 0; i < times; i++) {
      exec.invocations++;
      try {
        await invoke(fn, payload);
      } catch (err) {
        const e = err as { name?: string; message?: string };
        const errorType = e?.name ?? 'Error';
        this.settleTask(
          task,
          {
            ok: false,
            error: new StatesError(
              errorType,
              JSON.stringify({ errorType, errorMessage: e?.message ?? String(err), trace: [] }),
            ),
          },
          'completed',
        );
        return;
      }
    }
  }
}
