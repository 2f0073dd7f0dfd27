import { describe, expect, it } from 'vitest';
import { composeAws, createAwsClients } from './compose.js';
import { SettingsError } from './settings.js';

const log = { info() {}, warn() {}, error() {} };

describe('composeAws', () => {
  const clients = createAwsClients({ region: 'us-east-1' });

  it('builds each adapter once, from the settings it needs', () => {
    const aws = composeAws(
      {
        workflowAuditTable: 'wa',
        jobAuditTable: 'ja',
        eventBus: 'bus',
        jobQueueUrl: 'https://sqs.us-east-1.amazonaws.com/1/q',
      },
      { log, clients },
    );
    expect(aws.runs()).toBe(aws.runs());
    expect(aws.jobs()).toBe(aws.jobs());
    expect(aws.events()).toBe(aws.events());
  });

  it('names the missing setting when an adapter needs it', () => {
    const aws = composeAws({ jobAuditTable: 'ja' }, { log, clients });
    expect(() => aws.runs()).toThrow(
      new SettingsError('configuration error: RSQLO_WORKFLOW_AUDIT_TABLE is not set'),
    );
    expect(() => aws.orchestrator()).toThrow(/RSQLO_WRAPPER_STATE_MACHINE_ARN is not set/);
    expect(() => aws.definitions()).toThrow(/RSQLO_CONFIG_TABLE is not set/);
    expect(() => aws.agents()).toThrow(/set RSQLO_AGENT_INSTANCE_IDS or RSQLO_AGENT_TAG/);
    expect(() => aws.alerts()).toThrow(/RSQLO_ALERT_TOPIC_ARN is not set/);
    expect(() => aws.alertDedupe()).toThrow(/RSQLO_IDEMPOTENCY_TABLE is not set/);
    // Pools and operator actions live in the config table (pool:, hold: items) beside the audit tables.
    expect(() => aws.pools()).toThrow(/RSQLO_CONFIG_TABLE is not set/);
    expect(() => aws.operator()).toThrow(/RSQLO_CONFIG_TABLE is not set/);
  });

  it('builds the real pool and operator repositories (no stand-ins), once', () => {
    const aws = composeAws(
      { configTable: 'c', workflowAuditTable: 'wa', jobAuditTable: 'ja' },
      { log, clients },
    );
    expect(aws.pools()).toBe(aws.pools());
    expect(aws.operator()).toBe(aws.operator());
    expect(typeof aws.pools().acquire).toBe('function');
    expect(Object.keys(aws.operator()).sort()).toEqual([
      'applyJobAction',
      'getWorkflowHold',
      'heldRuns',
      'reviveSkipped',
      'setRunHold',
      'setWorkflowHold',
    ]);
  });

  it('builds the fleet from instance ids and/or a tag', () => {
    const aws = composeAws({ ssmDocument: 'doc', agentTag: 'role=agent' }, { log, clients });
    expect(typeof aws.agents().pick).toBe('function');
  });

  it('gives the SSM client no SDK retries (SendCommand is not idempotent)', async () => {
    expect(await clients.ssm.config.maxAttempts()).toBe(1);
    expect(await clients.sqs.config.maxAttempts()).toBe(3);
  });
});
