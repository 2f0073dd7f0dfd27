import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OPERATOR_REQUEST_TYPES } from '../../contracts/events.js';
import { EVENT_EXAMPLES } from '../../contracts/examples.js';
import type { Logger } from '../../services/ports.js';
import { LocalEngine } from './engine.js';

/**
 * Operator requests reach the engine from other processes (the CLI, the web view, a second
 * engine on the home), written straight into the outbox: `deliver` parses them in full, like
 * WorkflowRequested and WorkflowCancelRequested, so a bad one is refused at once with an error
 * naming the field, never handed to a service.
 */
const HOUR = 3_600_000;
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

describe('deliver: operator requests from other processes', () => {
  let dir: string | undefined;
  let engine: LocalEngine | undefined;
  afterEach(() => {
    engine?.close();
    engine = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function open(): LocalEngine {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-deliver-'));
    engine = LocalEngine.open({ home: path.join(dir, 'home'), pollMs: HOUR, log: quiet });
    return engine;
  }

  /** An envelope as another process writes it (raw JSON, not typed). */
  function raw(detailType: string, detail: Record<string, unknown>) {
    return {
      version: '0',
      id: `req-${detailType}`,
      'detail-type': detailType,
      source: 'rsqlo',
      account: '000000000000',
      time: '2024-05-01T00:00:00Z',
      region: 'local',
      resources: [],
      detail,
    };
  }

  it.each(OPERATOR_REQUEST_TYPES.map((t) => [t] as const))(
    'a %s with a bad field is dead-lettered at once, naming the field',
    async (type) => {
      const e = open();
      const bad = { ...(EVENT_EXAMPLES[type] as Record<string, unknown>), requested_by: '' };
      e.store.enqueueOutbox('starter', JSON.stringify(raw(type, bad)));
      await e.runUntil(() => e.store.outboxSize() === 0);
      const dead = e.store.deadLetters();
      expect(dead).toHaveLength(1);
      expect(dead[0]?.error).toMatch(
        new RegExp(`^ContractError: ${type} detail: detail\\.requested_by: must not be empty$`),
      );
    },
  );
});
