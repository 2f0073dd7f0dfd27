import { describe, expect, it } from 'vitest';
import { jobRunName } from './jobs.js';
import {
  base64Length,
  effectiveHeartbeatSeconds,
  JOB_COMMAND_MAX_CHARS,
  jsonBytes,
  MAX_ARGS_BYTES,
  MAX_JOB_RUN_NAME_CHARS,
  MAX_PARAMETERS_BYTES,
  worstCaseJobCommandChars,
} from './limits.js';
import { parseDefinitionText, validateDefinition, type WorkflowDefinitionInput } from './workflow.js';

const def = (extra: Partial<WorkflowDefinitionInput> = {}, script: unknown = 'a.sh'): unknown => ({
  workflow_id: 'wf',
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: [script] }],
  ...extra,
});

function issues(value: unknown) {
  const r = validateDefinition(value);
  return r.ok ? [] : r.issues;
}

/** Parameters whose JSON is exactly `bytes` bytes (one key). */
function paramsOfBytes(bytes: number): Record<string, string> {
  const overhead = jsonBytes({ P: '' });
  return { P: 'x'.repeat(bytes - overhead) };
}

describe('workflow size limits (rsqlo validate)', () => {
  it('accepts parameters up to the limit and refuses one byte more, at "parameters"', () => {
    expect(issues(def({ parameters: paramsOfBytes(MAX_PARAMETERS_BYTES) }))).toEqual([]);
    const over = issues(def({ parameters: paramsOfBytes(MAX_PARAMETERS_BYTES + 1) }));
    expect(over).toEqual([
      { path: 'parameters', message: expect.stringMatching(/^8193 bytes as JSON, over the 8192 bytes/) },
    ]);
  });

  it("counts a job's args as JSON bytes: quotes, backslashes, control and non-ASCII characters cost what they cost", () => {
    // 1 000 × "é" is 2 000 bytes of UTF-8; 700 × "\u0001" is 4 200 bytes escaped.
    const args = ['é'.repeat(1000), '"\\'.repeat(400), '\u0001'.repeat(700)];
    expect(jsonBytes(args)).toBeGreaterThan(MAX_ARGS_BYTES);
    expect(args.join('').length).toBeLessThan(MAX_ARGS_BYTES);
    const over = issues(def({}, { script: 'a.sh', args }));
    expect(over).toEqual([
      {
        path: 'workflow_stages[0].scripts[0].args',
        message: expect.stringMatching(/bytes as JSON, over the 4096 bytes allowed for one job's arguments/),
      },
    ]);
  });

  it('names the job whose command would not fit the SSM parameter (a script path of control characters)', () => {
    // Within every separate limit (1 024 characters), but each control character is 6 bytes of
    // JSON (\u0001), twice (script and job_name), plus the largest parameters and args: the encoded
    // command would be too long.
    const script = `${'\u0001'.repeat(1000)}.sh`;
    const args = ['x'.repeat(MAX_ARGS_BYTES - 10)];
    const found = issues(def({ parameters: paramsOfBytes(MAX_PARAMETERS_BYTES) }, { script, args }));
    expect(found).toEqual([
      {
        path: 'workflow_stages[0].scripts[0]',
        message: expect.stringMatching(/this job's command could be \d+ characters encoded, over the 32000/),
      },
    ]);
  });

  it('guarantees the SSM parameter: the largest ASCII definition within the limits encodes below JOB_COMMAND_MAX_CHARS', () => {
    const chars = worstCaseJobCommandChars({
      workflowId: 'w'.repeat(64),
      script: `${'s'.repeat(1021)}.sh`,
      args: ['a'.repeat(MAX_ARGS_BYTES - 4)],
      parameters: paramsOfBytes(MAX_PARAMETERS_BYTES),
      timeoutSeconds: 31_536_000,
      heartbeatSeconds: 31_535_999,
    });
    expect(chars).toBeLessThanOrEqual(JOB_COMMAND_MAX_CHARS);
    // …and the worst case really is worst: a real job run name is never longer than assumed.
    expect(jobRunName('E'.repeat(48), '999999.999999', 99).length).toBeLessThanOrEqual(
      MAX_JOB_RUN_NAME_CHARS,
    );
  });

  it('reports every problem at once with its path, through parseDefinitionText too', () => {
    const text = JSON.stringify(
      def({
        parameters: paramsOfBytes(MAX_PARAMETERS_BYTES + 10),
        workflow_stages: [
          {
            execution_flag: 'y',
            execution_type: 'parallel',
            scripts: ['ok.sh', { script: 'b.sh', args: ['x'.repeat(5000)], timeout_seconds: 1 }],
          },
        ],
      }),
    );
    const r = parseDefinitionText(text);
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.issues.map((i) => i.path)).toEqual([
      'parameters',
      'workflow_stages[0].scripts[1].args',
      'workflow_stages[0].scripts[1].timeout_seconds',
    ]);
  });

  it('base64Length is the length Buffer gives', () => {
    for (const n of [0, 1, 2, 3, 4, 100, 1001])
      expect(base64Length(n)).toBe(Buffer.alloc(n).toString('base64').length);
  });
});

describe('heartbeat strictly below the timeout', () => {
  it('keeps a heartbeat that is below the timeout', () => {
    expect(effectiveHeartbeatSeconds(86_400, undefined, 300)).toBe(300);
    expect(effectiveHeartbeatSeconds(600, 120, 300)).toBe(120);
  });

  it('clamps a heartbeat at or above the timeout to one second below it (default or explicit)', () => {
    expect(effectiveHeartbeatSeconds(120, undefined, 300)).toBe(119);
    expect(effectiveHeartbeatSeconds(120, 600, 300)).toBe(119);
    expect(effectiveHeartbeatSeconds(120, 120, 300)).toBe(119);
    expect(effectiveHeartbeatSeconds(2, undefined, 300)).toBe(1);
  });

  it('refuses a timeout below 2 s (no heartbeat fits below it), at the script and in defaults', () => {
    expect(issues(def({}, { script: 'a.sh', timeout_seconds: 1 }))).toEqual([
      {
        path: 'workflow_stages[0].scripts[0].timeout_seconds',
        message: expect.stringMatching(/must be at least 2/),
      },
    ]);
    expect(issues(def({ defaults: { timeout_seconds: 1 } }))).toEqual([
      { path: 'defaults.timeout_seconds', message: expect.stringMatching(/must be at least 2/) },
    ]);
    expect(issues(def({}, { script: 'a.sh', timeout_seconds: 2, heartbeat_seconds: 5 }))).toEqual([]);
  });
});
