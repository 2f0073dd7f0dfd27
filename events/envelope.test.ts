import { describe, expect, it } from 'vitest';
import { ContractError } from '../contracts/common.js';
import { DETAIL_TYPES, type DetailType, EVENT_SCHEMAS, type RsqloEvent } from '../contracts/events.js';
import { EVENT_EXAMPLES } from '../contracts/examples.js';
import { parseEnvelope, toEnvelope } from './envelope.js';

/** An envelope as EventBridge delivers it to a Lambda target. */
function envelope(
  detailType: string,
  detail: unknown,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': detailType,
    source: 'rsqlo',
    account: '111122223333',
    time: '2024-05-01T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail,
    ...over,
  };
}

function contractError(value: unknown): ContractError {
  try {
    parseEnvelope(value);
  } catch (err) {
    if (err instanceof ContractError) return err;
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(value)}`);
}

describe('parseEnvelope', () => {
  it.each(DETAIL_TYPES)('parses a %s envelope into its typed detail', (dt) => {
    const parsed = parseEnvelope(envelope(dt, EVENT_EXAMPLES[dt]));
    expect(parsed.id).toBe('6a7e8feb-b491-4cf7-a9f1-bf3703467718');
    expect(parsed.detailType).toBe(dt);
    expect(parsed.detail).toEqual(
      (EVENT_SCHEMAS[dt] as { parse(v: unknown): unknown }).parse(EVENT_EXAMPLES[dt]),
    );
  });

  it('applies detail defaults (a user rule may send WorkflowRequested without a version)', () => {
    const parsed = parseEnvelope(envelope('WorkflowRequested', { workflow_id: 'blog_test_workflow' }));
    expect(parsed.detail).toEqual({ version: 1, workflow_id: 'blog_test_workflow' });
  });

  it('accepts the minimal envelope a local bus produces (no account, region or resources)', () => {
    const parsed = parseEnvelope({
      id: '1',
      'detail-type': 'StageReady',
      source: 'rsqlo',
      detail: EVENT_EXAMPLES.StageReady,
    });
    expect(parsed.detailType).toBe('StageReady');
  });

  it('tolerates unknown envelope and detail fields', () => {
    const parsed = parseEnvelope(
      envelope('StageReady', { ...EVENT_EXAMPLES.StageReady, new_field: 1 }, { 'replay-name': 'r1' }),
    );
    expect(parsed.detail).toEqual(EVENT_EXAMPLES.StageReady);
  });

  it('rejects another source', () => {
    const err = contractError(envelope('StageReady', EVENT_EXAMPLES.StageReady, { source: 'aws.events' }));
    expect(err.issues).toEqual([{ path: 'source', message: 'expected "rsqlo", got "aws.events"' }]);
  });

  it('rejects an unknown detail-type, naming it', () => {
    const err = contractError(envelope('JobRetried', EVENT_EXAMPLES.StageReady));
    expect(err.issues).toEqual([{ path: 'detail-type', message: 'unknown detail-type "JobRetried"' }]);
    expect(contractError(envelope('toString', {})).issues[0]!.path).toBe('detail-type');
  });

  it('rejects a bad detail, naming detail.<field>', () => {
    const err = contractError(envelope('StageReady', { ...EVENT_EXAMPLES.StageReady, stage: 0 }));
    expect(err.what).toBe('StageReady detail');
    expect(err.issues.map((i) => i.path)).toEqual(['detail.stage']);
    expect(err.message).toMatch(/^StageReady detail: detail\.stage: /);
  });

  it('names nested detail fields with their full path', () => {
    const detail = {
      ...EVENT_EXAMPLES.WorkflowFinished,
      counts: { ...EVENT_EXAMPLES.WorkflowFinished.counts, failed: -1 },
    };
    expect(contractError(envelope('WorkflowFinished', detail)).issues.map((i) => i.path)).toEqual([
      'detail.counts.failed',
    ]);
  });

  it('rejects a missing or non-object detail at detail', () => {
    const { detail: _, ...noDetail } = envelope('StageReady', null);
    expect(contractError(noDetail).issues.map((i) => i.path)).toEqual(['detail']);
    expect(contractError(envelope('StageReady', 'x')).issues.map((i) => i.path)).toEqual(['detail']);
  });

  it('rejects an envelope missing its id, source or detail-type', () => {
    for (const field of ['id', 'source', 'detail-type']) {
      const env = envelope('StageReady', EVENT_EXAMPLES.StageReady);
      delete env[field];
      const err = contractError(env);
      expect(err.what).toBe('event envelope');
      expect(err.issues.map((i) => i.path)).toEqual([field === 'detail-type' ? '["detail-type"]' : field]);
    }
  });

  it.each([null, undefined, 'event', 42, true, []])('rejects %j, which is not an object', (value) => {
    const err = contractError(value);
    expect(err.what).toBe('event envelope');
    expect(err.issues[0]!.path).toBe('(root)');
  });
});

describe('toEnvelope', () => {
  it('wraps an event the way EventBridge delivers it, and parseEnvelope reads it back', () => {
    for (const dt of DETAIL_TYPES) {
      const detail = (EVENT_SCHEMAS[dt] as { parse(v: unknown): unknown }).parse(EVENT_EXAMPLES[dt]);
      const event = { detailType: dt, detail } as RsqloEvent;
      const env = toEnvelope(event, { id: `id-${dt}`, time: '2024-05-01T10:00:00.000Z' });
      expect(env).toMatchObject({
        version: '0',
        source: 'rsqlo',
        'detail-type': dt,
        account: 'local',
        region: 'local',
      });
      const back = parseEnvelope(JSON.parse(JSON.stringify(env)));
      expect(back).toEqual({
        id: `id-${dt}`,
        time: '2024-05-01T10:00:00.000Z',
        detailType: dt as DetailType,
        detail,
      });
    }
  });

  it('keeps a given account and region', () => {
    const event = { detailType: 'StageReady', detail: EVENT_EXAMPLES.StageReady } as RsqloEvent;
    const env = toEnvelope(event, { id: '1', account: '111122223333', region: 'eu-west-1' });
    expect(env.account).toBe('111122223333');
    expect(env.region).toBe('eu-west-1');
    expect(Number.isNaN(Date.parse(env.time))).toBe(false);
  });
});
