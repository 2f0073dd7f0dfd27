/**
 * The simulated Scheduler's rules, each from Scheduler's Smithy API model (aws-sdk-js-v3
 * codegen/sdk-codegen/aws-models/scheduler.json), and the request rsqlo sends passing them.
 */
import { describe, expect, it } from 'vitest';
import {
  atExpression,
  createScheduleRequest,
  runScheduleName,
} from '../../../runtime/aws/scheduler-run-watch.js';
import { atTime, createScheduleViolations, SchedulerSimulator } from './scheduler.js';

const NOW = Date.parse('2026-12-06T10:00:00.000Z');
const DEPS = {
  groupName: 'rsqlo-runs',
  targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:rsqlo-watchdog',
  roleArn: 'arn:aws:iam::123456789012:role/rsqlo-run-checks',
  deadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:rsqlo-undelivered',
};
const RUN = {
  workflow_id: 'wf',
  workflow_execution_id: `wf-${'X'.repeat(45)}`, // 48 characters: the longest execution id
  started_at: '2026-12-06T09:59:00.000Z',
  deadline_at: '2026-12-06T12:00:00Z',
};

describe('Scheduler CreateSchedule limits (its API model)', () => {
  it('accepts the request rsqlo sends for the longest execution id', () => {
    const req = createScheduleRequest(DEPS, RUN, new Date(NOW));
    expect(req.Name).toHaveLength(52);
    expect(createScheduleViolations(req, NOW)).toEqual([]);
  });

  it('"#Name": "smithy.api#length": {"min": 1, "max": 64}, "smithy.api#pattern": "^[0-9a-zA-Z-_.]+$"', () => {
    const req = createScheduleRequest(DEPS, RUN, new Date(NOW));
    expect(createScheduleViolations({ ...req, Name: 'x'.repeat(65) }, NOW)).toHaveLength(1);
    expect(createScheduleViolations({ ...req, Name: '' }, NOW)).toHaveLength(1);
    expect(createScheduleViolations({ ...req, Name: 'run/1' }, NOW)).toHaveLength(1);
    expect(createScheduleViolations({ ...req, Name: 'x'.repeat(64) }, NOW)).toEqual([]);
    // Every execution id the contracts allow (≤ 48 of [A-Za-z0-9_.-]) gives a valid name.
    expect(runScheduleName('a'.repeat(48))).toMatch(/^[0-9a-zA-Z_.-]{1,64}$/);
  });

  it('"at expression - at(yyyy-mm-ddThh:mm:ss)": no zone suffix, no fractions, a real date', () => {
    expect(atTime('at(2026-12-06T12:00:00)')).toBe(Date.parse('2026-12-06T12:00:00Z'));
    expect(atTime('at(2026-12-06T12:00:00Z)')).toBeUndefined();
    expect(atTime('at(2026-12-06T12:00:00.000)')).toBeUndefined();
    expect(atTime('at(2026-02-30T12:00:00)')).toBeUndefined();
    expect(atTime('rate(5 minutes)')).toBeUndefined();
  });

  it('"#RoleArn" and "#DeadLetterConfig" Arn patterns; FlexibleTimeWindow required; retry ranges', () => {
    const req = createScheduleRequest(DEPS, RUN, new Date(NOW));
    const target = req.Target as NonNullable<typeof req.Target>;
    expect(
      createScheduleViolations({ ...req, Target: { ...target, RoleArn: 'rsqlo-run-checks' } }, NOW),
    ).toHaveLength(1);
    expect(
      createScheduleViolations(
        { ...req, Target: { ...target, DeadLetterConfig: { Arn: 'arn:aws:sns:x' } } },
        NOW,
      ),
    ).toHaveLength(1);
    expect(createScheduleViolations({ ...req, FlexibleTimeWindow: undefined }, NOW)).toHaveLength(1);
    expect(
      createScheduleViolations(
        {
          ...req,
          Target: { ...target, RetryPolicy: { MaximumRetryAttempts: 186, MaximumEventAgeInSeconds: 59 } },
        },
        NOW,
      ),
    ).toHaveLength(2);
    // "If you are configuring a templated Lambda … target, the input must be a well-formed JSON."
    expect(createScheduleViolations({ ...req, Target: { ...target, Input: '{not json' } }, NOW)).toHaveLength(
      1,
    );
  });

  it('the at() time: the deadline rounded up to a whole second, never less than 60 s ahead', () => {
    expect(atExpression('2026-12-06T12:00:00.001Z', new Date(NOW))).toBe('at(2026-12-06T12:00:01)');
    // A deadline already past (a run re-announced late): a minute from now, not refused.
    expect(atExpression('2020-01-01T00:00:00Z', new Date(NOW))).toBe('at(2026-12-06T10:01:00)');
    expect(() => atExpression('soon', new Date(NOW))).toThrow(/not a timestamp/);
  });

  it('a second CreateSchedule of the same name is ConflictException; a fired schedule is gone', async () => {
    const calls: unknown[] = [];
    const sim = new SchedulerSimulator({
      account: '123456789012',
      region: 'us-east-1',
      targets: { [DEPS.targetArn]: async (p) => calls.push(p) },
    });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const req = createScheduleRequest(DEPS, { ...RUN, deadline_at: later }, new Date());
    sim.createSchedule(req);
    expect(() => sim.createSchedule(req)).toThrow(expect.objectContaining({ name: 'ConflictException' }));
    expect(() => sim.createSchedule({ ...req, Name: 'bad name' })).toThrow(
      expect.objectContaining({ name: 'ValidationException' }),
    );
    const fired = await sim.elapse();
    expect(fired.map((f) => f.name)).toEqual([req.Name]);
    expect(calls).toEqual([JSON.parse(req.Target?.Input as string)]);
    expect(sim.pending()).toEqual([]);
    expect(await sim.elapse()).toEqual([]);
    sim.dispose();
  });
});
