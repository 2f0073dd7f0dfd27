import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RUN_OVERDUE_ERROR } from '../../contracts/run-watch.js';
import { NO_AGENT_ERROR } from '../../runtime/aws/wrapper-definition.js';

export interface MonitoringProps {
  /** Dashboard name. */
  dashboardName: string;
  /** Alarm name prefix (`<stack>-`). */
  alarmPrefix: string;
  /** Alarms notify this topic (alarm and OK). */
  topic: sns.ITopic;
  /** The bus of the alert rules (a dimension of their metrics). */
  bus: events.IEventBus;
  /** The functions, by a readable name: one errors alarm each, and the Lambda graphs. */
  functions: Record<string, lambda.IFunction>;
  /** Every dead-letter queue, by a readable name. */
  deadLetterQueues: Record<string, sqs.IQueue>;
  /** The job queue (depth and age graphs). */
  jobQueue: sqs.IQueue;
  /** The rule whose matches are failed workflows (WorkflowFinished status Failed). */
  failedWorkflowRule: events.IRule;
  /** The rule whose matches are failed or timed-out job attempts. */
  failedJobRule: events.IRule;
  /** The single-job wrapper (executions graph). */
  wrapper: sfn.IStateMachine;
  /**
   * The run watchdog function and its log group: each run's one-time schedule invokes it at the
   * run's deadline, and it logs RunOverdue for a run still Running (the overdue runs).
   */
  watchdog: { fn: lambda.IFunction; logGroup: logs.ILogGroup };
  /** The stream event source mapping's function (iterator age). */
  aggregator: lambda.IFunction;
  /** The dispatcher task function and its log group: where "no agent online" is logged. */
  dispatcherTask: { fn: lambda.IFunction; logGroup: logs.ILogGroup; name: string };
  /**
   * Consecutive 5-minute periods in which dispatches found no agent online before the no-agent
   * alarm goes off. Default 3 (15 minutes: longer than a host reboot).
   */
  noAgentAlarmPeriods?: number;
}

/** CloudWatch namespace of rsqlo's own metrics. */
export const METRIC_NAMESPACE = 'rsqlo';
/** Dispatch attempts that found no agent online (one per NoAgentAvailableError the task logs). */
export const NO_AGENT_METRIC = 'NoAgentOnline';
/**
 * The dispatcher task's log line when no agent is online: `task not dispatched` with
 * `error_name` NoAgentAvailableError (services/dispatcher/task/handler.ts, Powertools JSON logs).
 * A CloudWatch Logs JSON filter pattern.
 */
export const NO_AGENT_FILTER_PATTERN = `{ $.error_name = "${NO_AGENT_ERROR}" }`;
/** Runs found still Running past their deadline (one per RunOverdue line of the watchdog). */
export const RUNS_OVERDUE_METRIC = 'RunsOverdue';
/** The watchdog's line for an overdue run (contracts/run-watch.ts), as a JSON filter pattern. */
export const RUN_OVERDUE_FILTER_PATTERN = `{ $.error_name = "${RUN_OVERDUE_ERROR}" }`;

/**
 * Alarms and a dashboard. Alarms (all notify the alert topic):
 * - each dead-letter queue not empty (ApproximateNumberOfMessagesVisible ≥ 1): something was lost
 *   on its way and needs a redrive;
 * - failed workflows: EventBridge's own MatchedEvents metric of the alert rule for WorkflowFinished
 *   with status Failed (no extra plumbing: the rule already matches exactly those events);
 * - Lambda errors per function (Errors ≥ 1; partial batch failures are retried, not errors), the
 *   dispatcher task's without its "no agent online" errors;
 * - no agent online: rsqlo/NoAgentOnline (a metric filter on the dispatcher task's log) ≥ 1 in
 *   each of `noAgentAlarmPeriods` consecutive 5-minute periods;
 * - overdue runs: rsqlo/RunsOverdue (a metric filter on the run watchdog's RunOverdue lines, see
 *   run-watchdog.ts) ≥ 1.
 */
export class Monitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const action = new actions.SnsAction(props.topic);
    const alarm = (id: string, name: string, description: string, metric: cloudwatch.IMetric) => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmName: `${props.alarmPrefix}${name}`,
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      this.alarms.push(a);
      return a;
    };
    const fiveMinutes = Duration.minutes(5);

    for (const [name, q] of Object.entries(props.deadLetterQueues))
      alarm(
        `Dlq${name}`,
        `dlq-not-empty-${name}`,
        `The ${name} dead-letter queue holds messages: inspect them and redrive (ARCHITECTURE.md §8: poison messages end visible in a DLQ).`,
        q.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Maximum' }),
      );

    const matched = (rule: events.IRule) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'MatchedEvents',
        dimensionsMap: { EventBusName: props.bus.eventBusName, RuleName: rule.ruleName },
        statistic: 'Sum',
        period: fiveMinutes,
      });
    const failedWorkflows = matched(props.failedWorkflowRule);
    const failedJobs = matched(props.failedJobRule);
    alarm(
      'FailedWorkflows',
      'workflows-failed',
      'A workflow run ended Failed (WorkflowFinished status Failed).',
      failedWorkflows,
    );

    // "No agent online" (a host rebooting, the agent stopped) is its own metric, from the task's
    // log line, and its own alarm: it pages only when it lasts. The dispatcher task's errors alarm
    // counts every other error (Errors minus the no-agent ones).
    new logs.MetricFilter(this, 'NoAgentFilter', {
      logGroup: props.dispatcherTask.logGroup,
      filterPattern: logs.FilterPattern.literal(NO_AGENT_FILTER_PATTERN),
      metricNamespace: METRIC_NAMESPACE,
      metricName: NO_AGENT_METRIC,
      metricValue: '1',
      defaultValue: 0,
    });
    const noAgent = new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: NO_AGENT_METRIC,
      statistic: 'Sum',
      period: fiveMinutes,
    });
    const periods = props.noAgentAlarmPeriods ?? 3;
    const noAgentAlarm = new cloudwatch.Alarm(this, 'NoAgentOnline', {
      alarmName: `${props.alarmPrefix}no-agent-online`,
      alarmDescription: `Jobs found no rsqlo agent online for ${periods * 5} minutes: check the agent hosts (SSM PingStatus, systemctl status rsqlo-agent). Dispatches are retried; jobs fail once their retries run out.`,
      metric: noAgent,
      threshold: 1,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    noAgentAlarm.addAlarmAction(action);
    noAgentAlarm.addOkAction(action);
    this.alarms.push(noAgentAlarm);

    for (const [name, fn] of Object.entries(props.functions)) {
      const errors = fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' });
      alarm(
        `Errors${name}`,
        `lambda-errors-${name}`,
        name === props.dispatcherTask.name
          ? `The ${name} function failed other than for "no agent online" (that has its own alarm; errors are retried; see its log group).`
          : `The ${name} function failed (errors are retried; see its log group).`,
        name === props.dispatcherTask.name
          ? new cloudwatch.MathExpression({
              expression: 'MAX([0, errors - FILL(noagent, 0)])',
              usingMetrics: { errors, noagent: noAgent },
              label: `${name} errors other than no agent online`,
              period: fiveMinutes,
            })
          : errors,
      );
    }

    new logs.MetricFilter(this, 'RunOverdueFilter', {
      logGroup: props.watchdog.logGroup,
      filterPattern: logs.FilterPattern.literal(RUN_OVERDUE_FILTER_PATTERN),
      metricNamespace: METRIC_NAMESPACE,
      metricName: RUNS_OVERDUE_METRIC,
      metricValue: '1',
      defaultValue: 0,
    });
    const overdue = new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: RUNS_OVERDUE_METRIC,
      statistic: 'Sum',
      period: fiveMinutes,
    });
    alarm(
      'OverdueRuns',
      'runs-overdue',
      "A run is still Running after the longest time its definition allows: an event was lost or a service keeps failing. The run watchdog's RunOverdue log line names the run (workflow_execution_id).",
      overdue,
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName });
    const fnMetrics = (f: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
      Object.entries(props.functions).map(([name, fn]) => {
        const m = f(fn) as cloudwatch.Metric;
        return m.with({ label: name });
      });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: '# rsqlo\nRuns, jobs and the services of the choreography. Alarms notify the alert topic.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Failed workflows and job attempts',
        left: [
          failedWorkflows.with({ label: 'workflows failed' }),
          failedJobs.with({ label: 'jobs failed / timed out' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Job wrapper executions',
        left: [
          props.wrapper.metricStarted({ label: 'started' }),
          props.wrapper.metricSucceeded({ label: 'succeeded' }),
          props.wrapper.metricFailed({ label: 'failed' }),
          props.wrapper.metricTimedOut({ label: 'timed out' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Overdue runs (watchdog)',
        left: [
          overdue.with({ label: 'overdue' }),
          props.watchdog.fn.metricInvocations({ label: 'runs checked', statistic: 'Sum' }),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Lambda invocations',
        left: fnMetrics((fn) => fn.metricInvocations({ statistic: 'Sum' })),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda errors',
        left: fnMetrics((fn) => fn.metricErrors({ statistic: 'Sum' })),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda duration p99',
        left: fnMetrics((fn) => fn.metricDuration({ statistic: 'p99' })),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Job queue',
        left: [
          props.jobQueue.metricApproximateNumberOfMessagesVisible({ label: 'waiting' }),
          props.jobQueue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight / delayed' }),
        ],
        right: [props.jobQueue.metricApproximateAgeOfOldestMessage({ label: 'oldest (s)' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queues',
        left: Object.entries(props.deadLetterQueues).map(([name, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ label: name, statistic: 'Maximum' }),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Aggregator stream iterator age (ms)',
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/Lambda',
            metricName: 'IteratorAge',
            dimensionsMap: { FunctionName: props.aggregator.functionName },
            statistic: 'Maximum',
          }),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }),
    );
  }
}
