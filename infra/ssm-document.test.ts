/**
 * Every SSM document the stack deploys, checked the way the SSM Agent on the host checks it.
 *
 * The agent validates each command's parameters before it runs anything, in Go
 * (aws/amazon-ssm-agent, agent/framework/docparser/paramvalidator/allowedregexparamvalidator/
 * allowedregexparamvalidator.go):
 *
 * ```go
 * validParamValue, err := regexp.Compile(parameter.AllowedPattern)
 * if err != nil {
 *     return fmt.Errorf("encountered error while compiling allowed pattern - internal error: %v", err)
 * }
 * errorString := "parameter value /%v/ does not match the allowed pattern /%v/"
 * switch input := parameterValue.(type) {
 * case string:
 *     if !validParamValue.MatchString(input) {
 * ```
 *
 * and it is a *mandatory* validator (paramvalidator.go GetMandatoryValidators: the allowed-regex
 * validator alone; min/max chars are optional validators, applied to runDocument's inner
 * documents only). Go's `regexp` is RE2: "invalid repeat count" for counts above 1000. re2js is a
 * port of RE2 with the same syntax and limits, so a pattern it cannot compile fails every command
 * on the host.
 */
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import type { JobCommand } from '../contracts/jobs.js';
import { JOB_COMMAND_MAX_CHARS } from '../contracts/limits.js';
import { encodeJobCommand } from '../runtime/aws/ssm-agent-fleet.js';
import { JOB_ALLOWED_PATTERN, JOB_MAX_CHARS, ssmDocumentContent } from '../runtime/aws/ssm-document.js';
import { resources, synth } from './testing.js';

interface DocParameter {
  type?: string;
  allowedPattern?: string;
  minChars?: number;
  maxChars?: number;
  default?: string;
}

const { json } = synth();
const documents = resources(json, 'AWS::SSM::Document').map(([id, r]) => ({
  id,
  parameters:
    (r.Properties?.Content as { parameters?: Record<string, DocParameter> } | undefined)?.parameters ?? {},
}));

/** Go's `MatchString`: an unanchored search (the patterns anchor themselves). */
const goMatch = (pattern: string, value: string) => RE2JS.compile(pattern).matcher(value).find();

const command: JobCommand = {
  version: 1,
  task_token: `AQB${'t'.repeat(1000)}`,
  job_run_name: 'r1--1-2--a1',
  workflow_id: 'wf',
  workflow_execution_id: 'r1',
  job_key: '1.2',
  job_name: 'load.sh',
  stage: 1,
  attempt: 1,
  script: 'load.sh',
  args: ['--day', 'it\'s; rm -rf / $(x) `y` "z" é 😀\n'],
  timeout_seconds: 600,
  heartbeat_seconds: 60,
  parameters: { ENV: 'prod' },
};

describe('SSM documents under RE2 (the SSM Agent compiles allowedPattern with Go regexp)', () => {
  it('the stack deploys the rsqlo document, and nothing else gets past this test unchecked', () => {
    expect(documents.length).toBeGreaterThan(0);
    const patterns = documents.flatMap((d) => Object.values(d.parameters).map((p) => p.allowedPattern));
    expect(patterns).toContain(JOB_ALLOWED_PATTERN);
  });

  it('every allowedPattern of every deployed document compiles with RE2', () => {
    for (const d of documents)
      for (const [name, p] of Object.entries(d.parameters)) {
        if (p.allowedPattern === undefined) continue;
        expect(() => RE2JS.compile(p.allowedPattern as string), `${d.id}.${name}`).not.toThrow();
      }
  });

  it('every default value passes its own pattern, as the agent checks defaults too', () => {
    for (const d of documents)
      for (const [name, p] of Object.entries(d.parameters))
        if (p.allowedPattern !== undefined && p.default !== undefined)
          expect(goMatch(p.allowedPattern, p.default), `${d.id}.${name}`).toBe(true);
  });

  it('the check bites: the former {16,32000} pattern is refused the way Go refuses it', () => {
    expect(() => RE2JS.compile('^[A-Za-z0-9+/]{16,32000}={0,2}$')).toThrow(/invalid repeat count/);
    // JavaScript's RegExp accepts it, which is why a RegExp-based check never noticed.
    expect(() => /^[A-Za-z0-9+/]{16,32000}={0,2}$/).not.toThrow();
  });

  it('a real job command (quotes, shell metacharacters, newlines, non-ASCII in its args) passes', () => {
    const encoded = encodeJobCommand(command);
    expect(goMatch(JOB_ALLOWED_PATTERN, encoded)).toBe(true);
    expect(encoded.length).toBeLessThanOrEqual(JOB_MAX_CHARS);
  });

  it('anything that is not base64 is refused: no shell text reaches the host', () => {
    for (const bad of ["'; rm -rf /", 'abc$(id)', 'YWJj\nZGVm', 'YWJj ZGVm', '', 'YWJj===', '{{ssm:x}}'])
      expect(goMatch(JOB_ALLOWED_PATTERN, bad), JSON.stringify(bad)).toBe(false);
  });

  it('the length is bounded by maxChars instead, equal to the limit rsqlo validate and the dispatcher use', () => {
    const job = ssmDocumentContent().parameters.job;
    expect(job.maxChars).toBe(JOB_COMMAND_MAX_CHARS);
    expect(job.minChars).toBeGreaterThan(0);
    // Every document that carries a job (the install document carries none).
    const withJob = documents.filter((d) => d.parameters.job);
    expect(withJob.length).toBeGreaterThan(0);
    for (const d of withJob) expect(d.parameters.job?.maxChars).toBe(JOB_COMMAND_MAX_CHARS);
  });
});
