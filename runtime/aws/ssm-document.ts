/**
 * The SSM Command document the dispatcher sends to ONE agent host per job (ARCHITECTURE.md §4). It only hands
 * the job to the agent daemon's spool: `rsqlo-agent submit`. The job travels as base64 JSON in one
 * parameter whose allowedPattern admits base64 characters only, passed to the command as an
 * environment variable (interpolationType ENV_VAR), so it is never spliced into shell text.
 * The CDK app deploys exactly this; the AWS-path tests run the agent the way it says.
 */
import { JOB_COMMAND_MAX_CHARS } from '../../contracts/limits.js';

/** Parameter carrying the base64 JSON JobCommand. */
export const JOB_PARAMETER = 'job';
/** The environment variable SSM sets from it (SSM_<parameter name>). */
export const JOB_ENV_VAR = `SSM_${JOB_PARAMETER}`;
/**
 * base64 characters only. The SSM Agent checks `allowedPattern` on the host with Go's `regexp`
 * (RE2 syntax: a repeat count above 1000, as in `{16,32000}`, does not compile and every command
 * fails there), so the pattern holds no counted repeat; the length is bounded by `maxChars`
 * (JOB_MAX_CHARS), by the dispatcher before SendCommand, and by `rsqlo validate`
 * (contracts/limits.ts).
 */
export const JOB_ALLOWED_PATTERN = '^[A-Za-z0-9+/]+={0,2}$';
/** Longest `job` value: the document's `maxChars` (contracts/limits.ts JOB_COMMAND_MAX_CHARS). */
export const JOB_MAX_CHARS = JOB_COMMAND_MAX_CHARS;
/** The document's own time limit: submit only spools the job, so this is short. */
export const SUBMIT_TIMEOUT_SECONDS = 120;
/** Where the install script puts the agent on the host. */
export const DEFAULT_AGENT_BIN = '/opt/rsqlo/bin/rsqlo-agent';

export function ssmDocumentContent(opts: { agentBin?: string } = {}) {
  const bin = opts.agentBin ?? DEFAULT_AGENT_BIN;
  return {
    schemaVersion: '2.2',
    description: 'rsqlo: hand one job attempt to the rsqlo agent daemon on this host',
    parameters: {
      [JOB_PARAMETER]: {
        type: 'String',
        description: 'The job command, base64-encoded JSON (set by the rsqlo dispatcher)',
        allowedPattern: JOB_ALLOWED_PATTERN,
        minChars: 4,
        maxChars: JOB_MAX_CHARS,
        interpolationType: 'ENV_VAR',
      },
      executionTimeout: {
        type: 'String',
        default: String(SUBMIT_TIMEOUT_SECONDS),
        description: 'Seconds the submit step may take',
        allowedPattern: '^[0-9]{1,4}$',
      },
    },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'submitJob',
        inputs: {
          timeoutSeconds: '{{ executionTimeout }}',
          runCommand: [
            'set -eu',
            // SSM Agent versions before ENV_VAR interpolation: the value is already checked by allowedPattern.
            `if [ -z "\${${JOB_ENV_VAR}+x}" ]; then ${JOB_ENV_VAR}='{{ ${JOB_PARAMETER} }}'; fi`,
            `exec ${bin} submit --job-env ${JOB_ENV_VAR}`,
          ],
        },
      },
    ],
  };
}
