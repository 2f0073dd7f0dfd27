/**
 * The single-job wrapper (ARCHITECTURE.md §4) as Amazon States Language, built from the dispatcher's ARN and
 * the bus name. The CDK app deploys exactly this; the AWS-path tests simulate exactly this (they read
 * TimeoutSecondsPath / HeartbeatSecondsPath / Retry / Catch from it), so what is tested is deployed.
 *
 * One execution = one attempt of one job, named `<execution>--<stage>-<job>--a<attempt>`. Its input
 * is a JobRunInput (contracts/jobs.ts).
 *
 * - Dispatch: invokes the dispatcher with a task token and waits (TimeoutSecondsPath and
 *   HeartbeatSecondsPath from the job). The agent ends the wait: SendTaskSuccess when the script
 *   completed, SendTaskFailure with error `JobFailed` when it did not (it already emitted JobFinished).
 * - Dispatch is terminal (`End: true`) when it succeeds: a successful job costs one state
 *   transition. Step Functions bills "a state transition each time a step of your workflow is
 *   executed ... including retries" (aws.amazon.com/step-functions/pricing), so a Succeed state
 *   after it would double the wrapper's cost per job. A Task may end the execution: `End`
 *   "designates this state as a terminal state (ends the execution) if set to true ... Some state
 *   types, such as Choice, or terminal states, such as Succeed and Fail, don't support or use the
 *   End field" (Step Functions developer guide, "Common state fields").
 * - A lost heartbeat, or a timeout: the Catch emits JobFinished TimedOut with events:putEvents.
 *   Catchers are tried in array order and `States.Timeout` also matches a heartbeat timeout (the
 *   States Language, Appendix A), so `States.HeartbeatTimeout` is caught first.
 * - The dispatcher refusing a stale token (`StaleTaskError`): ends quietly (the job moved on).
 * - Any other dispatch failure (no agent online after retries, SSM errors): JobFinished Failed. The
 *   error's `Cause` is optional in the States Language ("It SHOULD have a string-valued field named
 *   Cause"): a missing one is filled in before the message is formatted, so the report never fails.
 * - Fail states raise rsqlo's own error names: names starting with `States.` are reserved ("States
 *   MAY report errors with other names, which MUST NOT begin with the prefix States.").
 * - Resources name the partition through `partition` (a DefinitionSubstitutions placeholder when
 *   deployed), so the definition runs in aws-cn and aws-us-gov too.
 */

/** Error name the agent gives SendTaskFailure: the failure was reported already. */
export const JOB_FAILED_ERROR = 'JobFailed';
/** Error name (from the dispatcher Lambda) of a task for an attempt the job has left behind. */
export const STALE_TASK_ERROR = 'StaleTaskError';
/** Error name when no agent is online; retried by the state machine before giving up. */
export const NO_AGENT_ERROR = 'NoAgentAvailableError';
/** Error of a wrapper execution whose attempt timed out (reported as JobFinished TimedOut). */
export const JOB_TIMED_OUT_ERROR = 'JobTimedOut';
/** Error of a wrapper execution whose attempt could not be dispatched (JobFinished Failed). */
export const DISPATCH_FAILED_ERROR = 'DispatchFailed';
/** The Cause used when a caught error has none. */
export const MISSING_CAUSE = 'no cause given';

/** Lambda errors worth retrying (AWS's recommended set) plus "no agent online yet". */
export const DISPATCH_RETRY_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  NO_AGENT_ERROR,
] as const;

function jobFinishedEntry(busName: string, status: 'TimedOut' | 'Failed', message: string) {
  return {
    EventBusName: busName,
    Source: 'rsqlo',
    DetailType: 'JobFinished',
    Detail: {
      version: 1,
      'event_id.$': "States.Format('JobFinished:{}:{}:a{}', $.workflow_execution_id, $.job_key, $.attempt)",
      'occurred_at.$': '$$.State.EnteredTime',
      'workflow_id.$': '$.workflow_id',
      'workflow_execution_id.$': '$.workflow_execution_id',
      'job_key.$': '$.job_key',
      'job_name.$': '$.job_name',
      'stage.$': '$.stage',
      'attempt.$': '$.attempt',
      status,
      exit_code: null,
      'error_message.$': message,
      started_at: null,
      'finished_at.$': '$$.State.EnteredTime',
      duration_ms: null,
      instance_id: null,
      ssm_command_id: null,
      log_location: null,
      reported_by: 'wrapper',
    },
  };
}

/** The wrapper's definition as a plain object (serialize with JSON.stringify for CloudFormation). */
export function wrapperDefinition(opts: {
  dispatcherFunctionArn: string;
  eventBusName: string;
  /** The AWS partition (`aws`, `aws-cn`, `aws-us-gov`) of the service integrations' ARNs. */
  partition: string;
}) {
  const integration = (name: string) => `arn:${opts.partition}:states:::${name}`;
  return {
    Comment: 'rsqlo single-job wrapper: dispatch one attempt of one job to one agent and wait for its report',
    StartAt: 'Dispatch',
    States: {
      Dispatch: {
        Type: 'Task',
        Resource: integration('lambda:invoke.waitForTaskToken'),
        Parameters: {
          FunctionName: opts.dispatcherFunctionArn,
          // dispatch: 0 on the first invocation, n on the n-th retry (each retry has a new token);
          // execution_arn: lets the agent ask whether the attempt still runs when a token is refused.
          Payload: {
            'task_token.$': '$$.Task.Token',
            'job.$': '$',
            'dispatch.$': '$$.State.RetryCount',
            'execution_arn.$': '$$.Execution.Id',
          },
        },
        TimeoutSecondsPath: '$.timeout_seconds',
        HeartbeatSecondsPath: '$.heartbeat_seconds',
        ResultPath: '$.report',
        Retry: [
          { ErrorEquals: [...DISPATCH_RETRY_ERRORS], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 },
        ],
        Catch: [
          // In order: States.Timeout would also catch a heartbeat timeout.
          { ErrorEquals: ['States.HeartbeatTimeout'], ResultPath: '$.error', Next: 'ReportHeartbeatLost' },
          { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'ReportTimedOut' },
          { ErrorEquals: [JOB_FAILED_ERROR], ResultPath: '$.error', Next: 'JobFailed' },
          { ErrorEquals: [STALE_TASK_ERROR], ResultPath: '$.error', Next: 'Stale' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'DispatchErrorHasCause' },
        ],
        // Terminal on success: a Succeed state after it would be one more billed transition per job.
        End: true,
      },
      // The agent reported the failure (JobFinished) already: end without a second event.
      JobFailed: {
        Type: 'Fail',
        Error: JOB_FAILED_ERROR,
        Cause: 'the job did not complete; see its JobFinished event',
      },
      Stale: { Type: 'Succeed', Comment: 'the job moved past this attempt; nothing to report' },
      ReportTimedOut: {
        Type: 'Task',
        Resource: integration('events:putEvents'),
        Parameters: {
          Entries: [
            {
              ...jobFinishedEntry(
                opts.eventBusName,
                'TimedOut',
                "States.Format('timed out after {} s (timeout_seconds)', $.timeout_seconds)",
              ),
            },
          ],
        },
        ResultPath: null,
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 5, BackoffRate: 2 }],
        Next: 'TimedOut',
      },
      ReportHeartbeatLost: {
        Type: 'Task',
        Resource: integration('events:putEvents'),
        Parameters: {
          Entries: [
            {
              ...jobFinishedEntry(
                opts.eventBusName,
                'TimedOut',
                "States.Format('no heartbeat from the agent for {} s: the agent or its host was lost', $.heartbeat_seconds)",
              ),
            },
          ],
        },
        ResultPath: null,
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 5, BackoffRate: 2 }],
        Next: 'TimedOut',
      },
      DispatchErrorHasCause: {
        Type: 'Choice',
        Choices: [{ Variable: '$.error.Cause', IsPresent: true, Next: 'ReportDispatchFailed' }],
        Default: 'AddMissingCause',
      },
      AddMissingCause: {
        Type: 'Pass',
        Result: MISSING_CAUSE,
        ResultPath: '$.error.Cause',
        Next: 'ReportDispatchFailed',
      },
      ReportDispatchFailed: {
        Type: 'Task',
        Resource: integration('events:putEvents'),
        Parameters: {
          Entries: [
            {
              ...jobFinishedEntry(
                opts.eventBusName,
                'Failed',
                "States.Format('could not dispatch the job: {}: {}', $.error.Error, $.error.Cause)",
              ),
            },
          ],
        },
        ResultPath: null,
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 5, BackoffRate: 2 }],
        Next: 'DispatchFailed',
      },
      TimedOut: { Type: 'Fail', Error: JOB_TIMED_OUT_ERROR, Cause: 'the job attempt timed out' },
      DispatchFailed: {
        Type: 'Fail',
        Error: DISPATCH_FAILED_ERROR,
        Cause: 'the job could not be dispatched',
      },
    },
  };
}
