/**
 * The Choice and Wait states of the Step Functions simulator (the run watchdog uses both), each rule
 * quoted from the AWS Step Functions developer guide, "Choice workflow state" and "Wait workflow
 * state", and "Step Functions pricing" for what counts as a transition.
 */
import { describe, expect, it } from 'vitest';
import { type AslContext, AslError, type ChoiceRule, choiceMatches } from './asl.js';
import { WrapperSimulator, waitUntilMs } from './step-functions.js';

const ctx = {} as AslContext;
const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:test';

describe('Choice Rules (JSONPath)', () => {
  it('"the StringEquals rule is only evaluated if $.keyThatMightNotExist exists because of the preceding IsPresent Choice Rule"', () => {
    const rule: ChoiceRule = {
      And: [
        { Variable: '$.keyThatMightNotExist', IsPresent: true },
        { Variable: '$.keyThatMightNotExist', StringEquals: 'foo' },
      ],
    };
    expect(choiceMatches(rule, {}, ctx)).toBe(false);
    expect(choiceMatches(rule, { keyThatMightNotExist: 'foo' }, ctx)).toBe(true);
    expect(choiceMatches(rule, { keyThatMightNotExist: 'bar' }, ctx)).toBe(false);
  });

  it('a comparison on a path that selects nothing is a runtime error, not false', () => {
    expect(() => choiceMatches({ Variable: '$.missing', StringEquals: 'x' }, {}, ctx)).toThrow(AslError);
  });

  it('IsPresent: false also means "selects nothing"; a comparison of another type is false', () => {
    expect(choiceMatches({ Variable: '$.a', IsPresent: false }, {}, ctx)).toBe(true);
    expect(choiceMatches({ Variable: '$.a', IsPresent: false }, { a: null }, ctx)).toBe(false);
    expect(choiceMatches({ Variable: '$.a', StringEquals: '1' }, { a: 1 }, ctx)).toBe(false);
    expect(choiceMatches({ Variable: '$.a', NumericEquals: 1 }, { a: 1 }, ctx)).toBe(true);
    expect(choiceMatches({ Not: { Variable: '$.a', BooleanEquals: true } }, { a: false }, ctx)).toBe(true);
    expect(
      choiceMatches(
        {
          Or: [
            { Variable: '$.a', StringEquals: 'x' },
            { Variable: '$.a', StringEquals: 'y' },
          ],
        },
        { a: 'y' },
        ctx,
      ),
    ).toBe(true);
  });

  it('an operator the simulator does not know is refused, never guessed', () => {
    expect(() => choiceMatches({ Variable: '$.a', StringMatches: 'log-*' }, { a: 'log-1' }, ctx)).toThrow(
      /not simulated/,
    );
  });
});

function machine(states: Record<string, unknown>, startAt = 'Pick') {
  return new WrapperSimulator({
    definition: JSON.stringify({ StartAt: startAt, States: states }),
    stateMachineArn: ARN,
  });
}

async function ended(sim: WrapperSimulator, name: string) {
  for (let i = 0; i < 200 && sim.execution(name)?.status === 'RUNNING'; i++)
    await new Promise((r) => setTimeout(r, 10));
  return sim.execution(name);
}

describe('Choice and Wait states in the simulator', () => {
  const states = {
    Pick: {
      Type: 'Choice',
      Choices: [{ Variable: '$.kind', StringEquals: 'short', Next: 'Short' }],
      Default: 'Long',
    },
    Short: { Type: 'Pass', Result: 0, ResultPath: '$.wait', Next: 'Wait' },
    Long: { Type: 'Pass', Result: 3600, ResultPath: '$.wait', Next: 'Wait' },
    Wait: { Type: 'Wait', SecondsPath: '$.wait', Next: 'Done' },
    Done: { Type: 'Succeed' },
  };

  it('"the first Choice Rule that matches" wins, else Default; each state entered is one transition', async () => {
    const sim = machine(states);
    sim.startExecution({ stateMachineArn: ARN, name: 'a', input: '{"kind":"short"}' });
    const a = await ended(sim, 'a');
    expect(a?.status).toBe('SUCCEEDED');
    expect(a?.path.map((p) => p.state)).toEqual(['Pick', 'Short', 'Wait', 'Done']);
    // "Step Functions counts a state transition each time a step of your workflow is executed".
    expect(a?.transitions).toBe(4);
    await sim.dispose();
  });

  it('a Wait lasts its seconds until elapseWaits says the time has passed', async () => {
    const sim = machine(states);
    sim.startExecution({ stateMachineArn: ARN, name: 'b', input: '{"kind":"long"}' });
    await new Promise((r) => setTimeout(r, 50));
    expect(sim.execution('b')?.status).toBe('RUNNING');
    expect(sim.execution('b')?.path.at(-1)?.state).toBe('Wait');
    sim.elapseWaits();
    expect((await ended(sim, 'b'))?.path.map((p) => p.state)).toEqual(['Pick', 'Long', 'Wait', 'Done']);
    await sim.dispose();
  });

  it('"if no Choices evaluate to true … and no Default is provided", the execution fails (States.NoChoiceMatched)', async () => {
    const sim = machine({
      Pick: { Type: 'Choice', Choices: [{ Variable: '$.a', IsPresent: true, Next: 'Done' }] },
      Done: { Type: 'Succeed' },
    });
    sim.startExecution({ stateMachineArn: ARN, name: 'c', input: '{}' });
    const c = await ended(sim, 'c');
    expect([c?.status, c?.error]).toEqual(['FAILED', 'States.NoChoiceMatched']);
    await sim.dispose();
  });

  it('dispose ends an execution that is waiting (a day-long Wait does not hold it)', async () => {
    const sim = machine(
      { Wait: { Type: 'Wait', Seconds: 86_400, Next: 'Done' }, Done: { Type: 'Succeed' } },
      'Wait',
    );
    sim.startExecution({ stateMachineArn: ARN, name: 'd', input: '{}' });
    await new Promise((r) => setTimeout(r, 20));
    await sim.dispose();
    expect(sim.execution('d')?.path.map((p) => p.state)).toEqual(['Wait']);
  });
});

describe('Wait until a timestamp (TimestampPath)', () => {
  const states = {
    Wait: { Type: 'Wait', TimestampPath: '$.until', Next: 'Done' },
    Done: { Type: 'Succeed' },
  };

  it('"Timestamps must conform to the RFC3339 profile of ISO 8601 ... an uppercase T ... an uppercase Z", "truncates milliseconds"', () => {
    expect(waitUntilMs('2024-08-18T17:33:00Z')).toBe(Date.parse('2024-08-18T17:33:00Z'));
    expect(waitUntilMs('2024-08-18T17:33:00.999Z')).toBe(Date.parse('2024-08-18T17:33:00Z'));
    expect(waitUntilMs('2024-08-18T19:33:00+02:00')).toBe(Date.parse('2024-08-18T17:33:00Z'));
    for (const bad of [
      '2024-08-18t17:33:00Z',
      '2024-08-18T17:33:00z',
      '2024-08-18T17:33:00',
      '2024-08-18',
      1,
      null,
    ])
      expect(() => waitUntilMs(bad), String(bad)).toThrow(AslError);
  });

  it('a time already past does not wait; a later one waits until elapseWaits', async () => {
    const sim = machine(states, 'Wait');
    sim.startExecution({ stateMachineArn: ARN, name: 'past', input: '{"until":"2020-01-01T00:00:00Z"}' });
    const future = new Date(Date.now() + 86_400_000).toISOString();
    sim.startExecution({ stateMachineArn: ARN, name: 'later', input: JSON.stringify({ until: future }) });
    expect((await ended(sim, 'past'))?.status).toBe('SUCCEEDED');
    expect(sim.execution('later')?.status).toBe('RUNNING');
    sim.elapseWaits();
    const later = await ended(sim, 'later');
    expect([later?.status, later?.transitions]).toEqual(['SUCCEEDED', 2]);
    await sim.dispose();
  });

  it('a value that is not a timestamp fails the execution (States.Runtime)', async () => {
    const sim = machine(states, 'Wait');
    sim.startExecution({ stateMachineArn: ARN, name: 'bad', input: '{"until":null}' });
    const bad = await ended(sim, 'bad');
    expect([bad?.status, bad?.error]).toEqual(['FAILED', 'States.Runtime']);
    await sim.dispose();
  });
});
