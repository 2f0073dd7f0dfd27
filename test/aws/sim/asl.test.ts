/**
 * The ASL interpreter's error matching, rule by rule, each with the text it comes from: the
 * Amazon States Language specification (states-language.net/spec.html) and the AWS Step Functions
 * developer guide ("Handling errors in Step Functions workflows").
 */
import { describe, expect, it } from 'vitest';
import {
  type AslContext,
  checkErrorHandlers,
  chooseNext,
  errorMatches,
  firstMatching,
  passOutput,
} from './asl.js';

const ctx: AslContext = {
  Execution: { Id: 'x', Input: {}, Name: 'x', StartTime: '', RoleArn: '' },
  State: { EnteredTime: '2024-01-01T00:00:00.000Z', Name: 's', RetryCount: 0 },
  StateMachine: { Id: 'sm', Name: 'sm' },
};

describe('Catchers and Retriers are tried in array order', () => {
  // Spec, "Fallback states": "When a state reports an error and either there is no Retrier, or
  // retries have failed to resolve the error, the interpreter scans through the Catchers in array
  // order, and when the Error Name appears in the value of a Catcher's "ErrorEquals" field,
  // transitions the machine to the state named in the value of the "Next" field."
  it('the first Catcher whose ErrorEquals covers the error wins, even when a later one names it exactly', () => {
    const catchers = [
      { ErrorEquals: ['States.Timeout'], Next: 'A' },
      { ErrorEquals: ['States.HeartbeatTimeout'], Next: 'B' },
    ];
    expect(firstMatching(catchers, 'States.HeartbeatTimeout')?.Next).toBe('A');
    expect(firstMatching([...catchers].reverse(), 'States.HeartbeatTimeout')?.Next).toBe('B');
  });

  it('no Catcher covers an error none of them names', () => {
    expect(firstMatching([{ ErrorEquals: ['JobFailed'], Next: 'A' }], 'Other')).toBeUndefined();
  });
});

describe('States.Timeout covers heartbeat timeouts', () => {
  // Spec, Appendix A: "States.Timeout — A Task State either ran longer than the "TimeoutSeconds"
  // value, or failed to heartbeat for a time longer than the "HeartbeatSeconds" value."
  // "States.HeartbeatTimeout — A Task State failed to heartbeat for a time longer than the
  // "HeartbeatSeconds" value."
  it('States.Timeout matches both a timeout and a missed heartbeat', () => {
    expect(errorMatches(['States.Timeout'], 'States.Timeout')).toBe(true);
    expect(errorMatches(['States.Timeout'], 'States.HeartbeatTimeout')).toBe(true);
  });

  it('States.HeartbeatTimeout matches a missed heartbeat only', () => {
    expect(errorMatches(['States.HeartbeatTimeout'], 'States.HeartbeatTimeout')).toBe(true);
    expect(errorMatches(['States.HeartbeatTimeout'], 'States.Timeout')).toBe(false);
  });
});

describe('States.TaskFailed covers everything but timeouts', () => {
  // Developer guide, "States.TaskFailed": "A Task state failed during the execution. When used in
  // a retry or catch, States.TaskFailed acts as a wildcard that matches any known error name except
  // for States.Timeout." (and States.Timeout, per Appendix A, is also the heartbeat timeout).
  it('matches task errors of any name', () => {
    for (const e of ['States.TaskFailed', 'Lambda.ServiceException', 'JobFailed', 'States.Permissions'])
      expect(errorMatches(['States.TaskFailed'], e), e).toBe(true);
  });

  it('does not match a timeout or a heartbeat timeout', () => {
    expect(errorMatches(['States.TaskFailed'], 'States.Timeout')).toBe(false);
    expect(errorMatches(['States.TaskFailed'], 'States.HeartbeatTimeout')).toBe(false);
  });
});

describe('States.ALL', () => {
  // Spec, "Retrying after error" / "Fallback states": "The reserved name "States.ALL" ... is a
  // wildcard and matches any Error Name. Such a value MUST appear alone in the "ErrorEquals" array
  // and MUST appear in the last Catcher in the "Catch" array." (and "in the last Retrier in the
  // "Retry" array"). Developer guide: "The States.ALL error type must appear alone in a Catcher and
  // can't catch the States.DataLimitExceeded terminal error or Runtime error types."
  it('matches every error name, timeouts included', () => {
    for (const e of ['States.Timeout', 'States.HeartbeatTimeout', 'States.TaskFailed', 'Anything'])
      expect(errorMatches(['States.ALL'], e), e).toBe(true);
  });

  it('does not catch States.Runtime or States.DataLimitExceeded', () => {
    expect(errorMatches(['States.ALL'], 'States.Runtime')).toBe(false);
    expect(errorMatches(['States.ALL'], 'States.DataLimitExceeded')).toBe(false);
    expect(errorMatches(['States.TaskFailed'], 'States.Runtime')).toBe(false);
  });

  it('must appear alone and in the last Catcher / Retrier: other placements are refused', () => {
    expect(
      checkErrorHandlers({
        ok: {
          Retry: [{ ErrorEquals: ['X'] }, { ErrorEquals: ['States.ALL'] }],
          Catch: [{ ErrorEquals: ['Y'] }, { ErrorEquals: ['States.ALL'] }],
        },
      }),
    ).toEqual([]);
    expect(
      checkErrorHandlers({
        notLast: { Catch: [{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['Y'] }] },
        notAlone: { Retry: [{ ErrorEquals: ['States.ALL', 'X'] }] },
        empty: { Catch: [{ ErrorEquals: [] }] },
      }),
    ).toEqual([
      'notLast.Catch[0]: States.ALL must be in the last Catcher',
      'notAlone.Retry[0]: States.ALL must appear alone in ErrorEquals',
      'empty.Catch[0]: ErrorEquals must be a non-empty array',
    ]);
  });
});

describe('Choice and Pass', () => {
  // Spec, "Choice State": "A Choice State MUST have a "Choices" field whose value is a non-empty
  // array ... the interpreter ... transitions to the state named in the first Choice Rule that
  // matches ... If no Choice Rule matches and no "Default" transition was specified, the
  // interpreter fails the machine with a "States.NoChoiceMatched" error." "IsPresent": true when
  // the field the Variable selects is present.
  it('IsPresent, StringEquals, And and Default', () => {
    const state = {
      Choices: [
        {
          And: [
            { Variable: '$.run.status', IsPresent: true },
            { Variable: '$.run.status', StringEquals: 'Running' },
          ],
          Next: 'Overdue',
        },
        { Variable: '$.error.Cause', IsPresent: true, Next: 'HasCause' },
      ],
      Default: 'Else',
    };
    expect(chooseNext(state, { run: { status: 'Running' } }, ctx)).toBe('Overdue');
    expect(chooseNext(state, { run: { status: 'Done' }, error: { Cause: 'x' } }, ctx)).toBe('HasCause');
    expect(chooseNext(state, { error: { Error: 'E' } }, ctx)).toBe('Else');
    expect(() => chooseNext({ Choices: state.Choices }, {}, ctx)).toThrow(/States.NoChoiceMatched/);
  });

  // Spec, "Pass State": "If present, its value is treated as the output of a virtual task, and
  // placed as prescribed by the "ResultPath" field".
  it('a Pass state places its Result by ResultPath', () => {
    expect(passOutput({ Result: 'r', ResultPath: '$.error.Cause' }, { error: { Error: 'E' } }, ctx)).toEqual({
      error: { Error: 'E', Cause: 'r' },
    });
    expect(passOutput({}, { a: 1 }, ctx)).toEqual({ a: 1 });
  });
});
