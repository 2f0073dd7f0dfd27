/**
 * The States Language interpreter of the Step Functions simulator: it walks a definition's states
 * (Pass, Choice, Wait, Task with Retry and Catch, Succeed, Fail) for one execution. What a Task's
 * resource does, how long a Wait really waits and when the simulator is gone are the host's
 * (step-functions.ts, the service API side), so the interpreter knows the language and nothing of
 * the service's calls.
 */
import {
  type AslContext,
  AslError,
  applyResultPath,
  choiceMatches,
  firstMatching,
  passOutput,
  readPath,
} from './asl.js';
import {
  type Definition,
  type ExecutionStatus,
  MAX_STANDARD_WAIT_MS,
  type Retrier,
  type SimExecution,
  type StateDef,
  StatesError,
  type TaskOutcome,
  waitUntilMs,
} from './states-model.js';

/** What the interpreter needs from the simulated service. */
export interface InterpreterHost {
  readonly stateMachineArn: string;
  /** Multiplies Retry intervals (1: the definition's own). */
  readonly retryScale: number;
  /** Where a definition's breach of a service limit is recorded. */
  readonly violations: string[];
  /** True once the simulator is disposed: executions stop at the next state. */
  isDisposed(): boolean;
  /** Real time, cut short on dispose (Retry intervals). */
  sleep(ms: number): Promise<void>;
  /** A Wait state's wait (seconds), cut short when waits are elapsed or on dispose. */
  wait(seconds: number): Promise<void>;
  /** Runs a Task state's resource once; throws a StatesError (or AslError) when it fails. */
  runTask(exec: SimExecution, state: StateDef, data: unknown, ctx: AslContext): Promise<unknown>;
}

/** The context object (`$$`) of a state being run. */
function context(
  host: InterpreterHost,
  exec: SimExecution,
  state: string,
  entered: string,
  retryCount: number,
): AslContext {
  return {
    Execution: {
      Id: exec.arn,
      Input: JSON.parse(exec.input),
      Name: exec.name,
      StartTime: exec.startDate.toISOString(),
      RoleArn: 'arn:aws:iam::123456789012:role/rsqlo-job-wrapper',
    },
    State: { EnteredTime: entered, Name: state, RetryCount: retryCount },
    StateMachine: { Id: host.stateMachineArn, Name: host.stateMachineArn.split(':').pop() ?? '' },
  };
}

/**
 * Runs one execution of `def` from its StartAt state to its end (or until it is stopped or the
 * host is disposed), recording the path, the billed transitions and the outcome on `exec`.
 */
export async function runExecution(
  host: InterpreterHost,
  def: Definition,
  exec: SimExecution,
  input: unknown,
): Promise<void> {
  let name: string | undefined = def.StartAt;
  let data = input;
  while (name !== undefined) {
    if (exec.status !== 'RUNNING' || host.isDisposed()) return;
    const state: StateDef | undefined = def.States[name];
    if (!state) throw new Error(`no state ${name}`);
    const enteredTime = new Date().toISOString();
    exec.path.push({ state: name, enteredTime });
    exec.transitions++;
    switch (state.Type) {
      case 'Succeed':
        endExecution(exec, 'SUCCEEDED', undefined, undefined, data);
        return;
      case 'Fail':
        endExecution(exec, 'FAILED', state.Error, state.Cause);
        return;
      case 'Pass':
        data = passOutput(state, data, context(host, exec, name, enteredTime, 0));
        name = state.End ? undefined : state.Next;
        break;
      case 'Choice': {
        const ctx = context(host, exec, name, enteredTime, 0);
        let next: string | undefined;
        try {
          next = (state.Choices ?? []).find((c) => choiceMatches(c, data, ctx))?.Next ?? state.Default;
        } catch (err) {
          endExecution(exec, 'FAILED', 'States.Runtime', (err as Error).message);
          return;
        }
        if (next === undefined) {
          endExecution(exec, 'FAILED', 'States.NoChoiceMatched', `no Choice Rule of ${name} matched`);
          return;
        }
        name = next;
        break;
      }
      case 'Wait': {
        if (state.Timestamp !== undefined || state.TimestampPath !== undefined) {
          let until: number;
          try {
            const ts =
              state.TimestampPath !== undefined
                ? readPath(state.TimestampPath, data, context(host, exec, name, enteredTime, 0))
                : state.Timestamp;
            until = waitUntilMs(ts);
          } catch (err) {
            endExecution(exec, 'FAILED', 'States.Runtime', `${name}: ${(err as Error).message}`);
            return;
          }
          const ms = Math.max(0, until - Date.now());
          if (ms > MAX_STANDARD_WAIT_MS)
            host.violations.push(`${exec.name}: ${name} waits ${ms} ms, beyond a Standard workflow's year`);
          await host.wait(ms / 1000);
          name = state.End ? undefined : state.Next;
          break;
        }
        let seconds = state.Seconds;
        if (state.SecondsPath !== undefined) {
          try {
            seconds = readPath(state.SecondsPath, data, context(host, exec, name, enteredTime, 0)) as number;
          } catch (err) {
            endExecution(exec, 'FAILED', 'States.Runtime', (err as Error).message);
            return;
          }
        }
        if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
          endExecution(exec, 'FAILED', 'States.Runtime', `${name}: the wait is not a non-negative integer`);
          return;
        }
        await host.wait(seconds);
        name = state.End ? undefined : state.Next;
        break;
      }
      case 'Task': {
        const r = await runTaskWithRetries(host, exec, name, state, data, enteredTime);
        if (exec.status !== 'RUNNING') return;
        if (r.ok) {
          data = applyResultPath(data, r.output, state.ResultPath);
          name = state.End ? undefined : state.Next;
          break;
        }
        const catcher = firstMatching(state.Catch, r.error.error);
        if (!catcher) {
          endExecution(exec, 'FAILED', r.error.error, r.error.cause);
          return;
        }
        // The Error Output "MUST have ... Error" and "SHOULD have ... Cause": none when none was given.
        const output =
          r.error.cause === undefined
            ? { Error: r.error.error }
            : { Error: r.error.error, Cause: r.error.cause };
        data = applyResultPath(data, output, catcher.ResultPath);
        name = catcher.Next;
        break;
      }
      default:
        throw new Error(`state type ${(state as StateDef).Type} is not simulated`);
    }
  }
  endExecution(exec, 'SUCCEEDED', undefined, undefined, data);
}

/** Ends a running execution with `status` (a no-op when it has ended already). */
export function endExecution(
  exec: SimExecution,
  status: ExecutionStatus,
  error?: string,
  cause?: string,
  output?: unknown,
) {
  if (exec.status !== 'RUNNING') return;
  exec.status = status;
  if (status === 'SUCCEEDED') exec.output = JSON.stringify(output ?? null);
  exec.stopDate = new Date();
  exec.error = error;
  exec.cause = cause;
}

async function runTaskWithRetries(
  host: InterpreterHost,
  exec: SimExecution,
  name: string,
  state: StateDef,
  data: unknown,
  enteredTime: string,
): Promise<TaskOutcome> {
  const counts = new Map<Retrier, number>();
  let retryCount = 0;
  for (;;) {
    const ctx = context(host, exec, name, enteredTime, retryCount);
    let r: TaskOutcome;
    try {
      r = { ok: true, output: await host.runTask(exec, state, data, ctx) };
    } catch (err) {
      r = {
        ok: false,
        error:
          err instanceof StatesError
            ? err
            : err instanceof AslError
              ? new StatesError('States.Runtime', err.message)
              : new StatesError('States.Runtime', String(err)),
      };
    }
    if (r.ok || exec.status !== 'RUNNING') return r;
    const error = r.error.error;
    const retrier = firstMatching(state.Retry, error);
    if (!retrier) return r;
    const n = counts.get(retrier) ?? 0;
    if (n >= (retrier.MaxAttempts ?? 3)) return r;
    counts.set(retrier, n + 1);
    retryCount++;
    exec.transitions++;
    const seconds = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** n;
    await host.sleep(seconds * 1000 * host.retryScale);
  }
}
