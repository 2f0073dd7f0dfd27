/**
 * Routes, Lambda entries and deployed rules agree. infra/stack.test.ts proves each EventBridge rule
 * is its SERVICE_ROUTES entry, targeting the function of `route.target`, and that each bus
 * function's rules filter exactly `routedDetailTypes(service)`; services/shared/dispatch.test.ts
 * proves the dispatch map pairs exactly those (service, detail-type)s with a method. This file closes
 * the loop: the code each bus function runs (its `FUNCTIONS` entry) accepts exactly the detail-types
 * its rules deliver, and refuses every other one before touching anything.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DETAIL_TYPES } from '../contracts/events.js';
import { parseEnvelope } from '../events/envelope.js';
import { BUS_SERVICES, routedDetailTypes } from '../events/routing.js';
import { FUNCTIONS } from '../infra/rsqlo-stack.js';
import { ENV, type SettingName } from '../runtime/aws/settings.js';
import { busEvent, captureLogs } from '../runtime/aws/testing/lambda-harness.js';
import { InvalidInputError } from '../services/errors.js';
import { sampleEvents } from '../services/testing/samples.js';

/** Well-formed values for every setting: nothing is called, the entries only need to load. */
const SETTINGS: Record<SettingName, string> = {
  configTable: 'config',
  workflowAuditTable: 'workflow-audit',
  jobAuditTable: 'job-audit',
  eventBus: 'rsqlo',
  jobQueueUrl: 'http://127.0.0.1:1/000000000000/jobs',
  wrapperStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:wrapper',
  ssmDocument: 'rsqlo-run',
  agentInstanceIds: 'i-0123456789abcdef0',
  agentTag: 'rsqlo=agent',
  logGroup: '/rsqlo/jobs',
  idempotencyTable: 'idempotency',
  alertTopicArn: 'arn:aws:sns:us-east-1:123456789012:alerts',
  runWatchGroup: 'rsqlo-runs',
  runWatchTargetArn: 'arn:aws:lambda:us-east-1:123456789012:function:watchdog',
  runWatchRoleArn: 'arn:aws:iam::123456789012:role/run-checks',
  runWatchDeadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:undelivered',
  scriptVersion: 'a'.repeat(64),
  scriptWorkflows: 'blog_test_workflow',
};

describe('bus Lambda entries', () => {
  const logs = captureLogs();
  afterEach(() => {
    vi.unstubAllEnvs();
    logs.clear();
  });

  for (const service of BUS_SERVICES) {
    it(`${service}: its entry accepts exactly the detail-types routed to it`, async () => {
      const spec = FUNCTIONS[service];
      expect(spec.entry).toBe(`services/${service}/handler.ts`);
      vi.stubEnv('AWS_REGION', 'us-east-1');
      for (const name of spec.settings) vi.stubEnv(ENV[name], SETTINGS[name]);
      vi.resetModules();
      const entry = (await import(`../${spec.entry.replace(/\.ts$/, '.js')}`)) as Record<
        string,
        (event: unknown) => Promise<unknown>
      >;
      const handler = entry[spec.handlerExport];
      if (!handler) throw new Error(`${spec.entry} has no export ${spec.handlerExport}`);
      const routed = routedDetailTypes(service);
      expect(routed.length).toBeGreaterThan(0);
      const samples = await sampleEvents();
      for (const type of DETAIL_TYPES) {
        if ((routed as readonly string[]).includes(type)) continue;
        const p = handler(busEvent(type, samples.get(type)?.detail));
        // The entry was loaded afresh (its own module graph), so the class is matched by name.
        await expect(p, type).rejects.toMatchObject({ name: InvalidInputError.name });
        // The refusal lists what the entry accepts: exactly the routed detail-types, in table order.
        await expect(p, type).rejects.toThrow(`this function handles ${routed.join(', ')}, not ${type}`);
      }
    });
  }

  it('every detail-type sample is valid, so a refusal above is about the detail-type only', async () => {
    const samples = await sampleEvents();
    for (const type of DETAIL_TYPES)
      expect(parseEnvelope(busEvent(type, samples.get(type)?.detail)).detailType).toBe(type);
  });
});
