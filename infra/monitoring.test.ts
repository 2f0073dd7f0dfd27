import { describe, expect, it } from 'vitest';
import { createWatchdogService } from '../services/watchdog/service.js';
import {
  NO_AGENT_FILTER_PATTERN,
  NO_AGENT_METRIC,
  RUN_OVERDUE_FILTER_PATTERN,
  RUNS_OVERDUE_METRIC,
} from './constructs/monitoring.js';
import { matchesJsonFilter } from './log-filter.js';
import { lid, resources, synth } from './testing.js';

const s = synth();
// biome-ignore lint/suspicious/noExplicitAny: template JSON
type Cfn = Record<string, any>;
const props = (r: { Properties?: Record<string, unknown> }) => r.Properties as Cfn;
const alarms = () => resources(s.json, 'AWS::CloudWatch::Alarm').map(([, r]) => props(r));

describe('"no agent online" is its own metric and alarm, not a Lambda error that pages', () => {
  it("counts the dispatcher task's no-agent log lines as rsqlo/NoAgentOnline", () => {
    const filters = resources(s.json, 'AWS::Logs::MetricFilter')
      .map(([, r]) => props(r))
      .filter((p) => p.FilterPattern === NO_AGENT_FILTER_PATTERN);
    expect(filters).toHaveLength(1);
    expect(filters[0]).toMatchObject({
      FilterPattern: NO_AGENT_FILTER_PATTERN,
      LogGroupName: { Ref: lid(s, s.stack.functions.dispatcherTask.logGroup) },
      MetricTransformations: [
        { MetricNamespace: 'rsqlo', MetricName: NO_AGENT_METRIC, MetricValue: '1', DefaultValue: 0 },
      ],
    });
  });

  it('alarms only when no agent was found for three 5-minute periods in a row', () => {
    const a = alarms().find((x) => x.AlarmName === 'rsqlo-no-agent-online');
    expect(a).toMatchObject({
      Namespace: 'rsqlo',
      MetricName: NO_AGENT_METRIC,
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it("the dispatcher task's errors alarm leaves the no-agent errors out; other functions alarm on Errors", () => {
    const task = alarms().find((x) => x.AlarmName === 'rsqlo-lambda-errors-dispatcherTask');
    const expr = task?.Metrics?.find((m: Record<string, unknown>) => m.Expression);
    expect(expr?.Expression).toBe('MAX([0, errors - FILL(noagent, 0)])');
    const ids = (task?.Metrics ?? []).map((m: Cfn) => m.MetricStat?.Metric?.MetricName).filter(Boolean);
    expect(ids.sort()).toEqual(['Errors', NO_AGENT_METRIC].sort());
    expect(alarms().find((x) => x.AlarmName === 'rsqlo-lambda-errors-starter')).toMatchObject({
      MetricName: 'Errors',
    });
  });

  it('the filter pattern matches the JSON line and nothing else (CloudWatch Logs JSON filter semantics)', () => {
    const line = JSON.stringify({
      level: 'WARN',
      message: 'task not dispatched',
      error_name: 'NoAgentAvailableError',
    });
    expect(matchesJsonFilter(NO_AGENT_FILTER_PATTERN, line)).toBe(true);
    expect(matchesJsonFilter(NO_AGENT_FILTER_PATTERN, line.replace('NoAgent', 'Stale'))).toBe(false);
    expect(matchesJsonFilter(NO_AGENT_FILTER_PATTERN, 'error_name = NoAgentAvailableError')).toBe(false);
  });
});

describe("overdue runs: the run watchdog's RunOverdue lines, counted by a metric filter", () => {
  it('counts them as rsqlo/RunsOverdue and alarms on one', () => {
    const [filter] = resources(s.json, 'AWS::Logs::MetricFilter')
      .map(([, r]) => props(r))
      .filter((p) => p.FilterPattern === RUN_OVERDUE_FILTER_PATTERN);
    expect(filter).toMatchObject({
      LogGroupName: { Ref: lid(s, s.stack.functions.watchdog.logGroup) },
      MetricTransformations: [
        { MetricNamespace: 'rsqlo', MetricName: RUNS_OVERDUE_METRIC, MetricValue: '1', DefaultValue: 0 },
      ],
    });
    const alarm = alarms().find((a) => a.AlarmName === 'rsqlo-runs-overdue');
    expect(alarm).toMatchObject({ Namespace: 'rsqlo', MetricName: RUNS_OVERDUE_METRIC, Threshold: 1 });
  });

  it("matches the watchdog's overdue line and not its other lines (CloudWatch Logs JSON filter semantics)", () => {
    const lines: string[] = [];
    const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      lines.push(JSON.stringify({ level, message, ...fields }));
    const watchdog = createWatchdogService({
      runs: { status: async (id) => (id === 'stuck' ? 'Running' : 'Completed') },
      log: { info: log('INFO'), warn: log('WARN'), error: log('ERROR') },
    });
    const run = { workflow_id: 'wf', started_at: 'x', deadline_at: 'y' };
    return (async () => {
      await watchdog.check({ ...run, workflow_execution_id: 'stuck' });
      await watchdog.check({ ...run, workflow_execution_id: 'done' });
      expect(lines).toHaveLength(1);
      expect(matchesJsonFilter(RUN_OVERDUE_FILTER_PATTERN, lines[0] as string)).toBe(true);
      expect(
        matchesJsonFilter(RUN_OVERDUE_FILTER_PATTERN, (lines[0] as string).replace('RunOverdue', 'Other')),
      ).toBe(false);
    })();
  });
});
