import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SettingName } from '../runtime/aws/settings.js';
import {
  ADAPTERS,
  COMPOSE_MODULE,
  EFFECT_TARGETS,
  type FunctionActions,
  functionActions,
  handlerAdapters,
  handlerSettings,
} from './handler-actions.js';
import { type PermissionTargets, sourceStatements } from './permissions.js';
import { FUNCTION_IDS, FUNCTIONS, type FunctionId, PROJECT_ROOT } from './rsqlo-stack.js';
import { actionsInBundle, moduleActions, SdkActionsError } from './sdk-actions.js';
import { actionsOf, lid, roleStatements, type Statement, type Synthesized, synth } from './testing.js';

/**
 * What Lambda itself does with a function's role, by statement id (not the function's code):
 * writing its logs, X-Ray segments (active tracing), and per trigger the poller's reads and the
 * failure destination's sends. Everything else in a role must be an action the code calls.
 */
const LOGS = { WriteOwnLogs: ['logs:CreateLogStream', 'logs:PutLogEvents'] };
const XRAY = { '(x-ray)': ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'] };
const BUS_TRIGGER = { AsyncFailuresToDeadLetterQueue: ['sqs:SendMessage'] };
const PLATFORM: Record<FunctionId, Record<string, string[]>> = {
  starter: { ...LOGS, ...XRAY, ...BUS_TRIGGER },
  planner: { ...LOGS, ...XRAY, ...BUS_TRIGGER },
  recorder: { ...LOGS, ...XRAY, ...BUS_TRIGGER },
  dispatcher: {
    ...LOGS,
    ...XRAY,
    PollJobQueue: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
  },
  dispatcherTask: { ...LOGS, ...XRAY },
  // SNS encrypts what the notifier publishes with the topic's key, as the notifier: publishers need
  // both actions on it (SNS developer guide, "Encryption at rest").
  notifier: {
    ...LOGS,
    ...XRAY,
    ...BUS_TRIGGER,
    PublishToEncryptedTopic: ['kms:Decrypt', 'kms:GenerateDataKey*'],
  },
  // Invoked by EventBridge Scheduler (its role holds lambda:InvokeFunction), no trigger of its own.
  watchdog: { ...LOGS, ...XRAY },
  trigger: { ...LOGS, ...XRAY, ...BUS_TRIGGER },
  aggregator: {
    ...LOGS,
    ...XRAY,
    ReadJobAuditStream: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
    ListStreams: ['dynamodb:ListStreams'],
    StreamFailuresToDeadLetterQueue: ['sqs:SendMessage'],
  },
};

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

let s: Synthesized;
const code = new Map<FunctionId, FunctionActions>();
beforeAll(async () => {
  s = synth();
  for (const fid of FUNCTION_IDS)
    code.set(fid, await functionActions(PROJECT_ROOT, FUNCTIONS[fid].entry, FUNCTIONS[fid].handlerExport));
}, 120_000);

function statementsOf(fid: FunctionId) {
  return roleStatements(s.json, lid(s, s.stack.functions[fid].role));
}

describe('each function role grants exactly the AWS actions its code calls', () => {
  for (const fid of FUNCTION_IDS) {
    it(`${fid}: code statements = the SDK calls found in its code, nothing missing, nothing extra`, () => {
      const c = code.get(fid) as FunctionActions;
      expect(c.actions.length, 'the analysis found no AWS call at all').toBeGreaterThan(0);
      const granted = statementsOf(fid).filter((st) => st.Sid?.startsWith('Code'));
      expect(sorted(granted.flatMap(actionsOf))).toEqual(c.actions);
      for (const st of granted) expect(st.Effect).toBe('Allow');
    });

    it(`${fid}: every other statement is what Lambda needs for its logs, tracing and trigger`, () => {
      const platform = statementsOf(fid).filter((st) => !st.Sid?.startsWith('Code'));
      const bySid = Object.fromEntries(platform.map((st) => [st.Sid ?? '(x-ray)', sorted(actionsOf(st))]));
      expect(bySid).toEqual(
        Object.fromEntries(Object.entries(PLATFORM[fid]).map(([k, v]) => [k, sorted(v)])),
      );
    });

    it(`${fid}: its spec matches its handler (settings it reads, adapters it composes)`, () => {
      const c = code.get(fid) as FunctionActions;
      const spec = FUNCTIONS[fid];
      expect(sorted(spec.settings)).toEqual(sorted([...c.settings.required, ...c.settings.optional]));
      expect(sorted(spec.sources.filter((x) => x !== 'idempotency'))).toEqual(c.adapters);
      // The handler's own calls (outside composeAws) are the idempotency store's.
      expect(spec.sources.includes('idempotency')).toBe(c.bySource.handler?.length !== 0);
    });
  }

  it("grants each source exactly its module's calls (per adapter, not just in total)", () => {
    const t: PermissionTargets = {
      configTable: 'c',
      workflowAuditTable: 'w',
      jobAuditTable: 'j',
      idempotencyTable: 'i',
      bus: 'b',
      jobQueue: 'q',
      wrapper: 'sm',
      wrapperExecutions: 'ex',
      ssmDocument: 'd',
      agentInstances: ['i-1'],
      anyInstance: '*',
      agentTag: { key: 'k', value: 'v' },
      alertTopic: 'a',
      runWatchSchedules: 's',
      runWatchRole: 'r',
    };
    const all = new Set<SettingName>(['configTable', 'eventBus', 'jobQueueUrl']);
    for (const fid of FUNCTION_IDS) {
      const c = code.get(fid) as FunctionActions;
      for (const source of FUNCTIONS[fid].sources) {
        const granted = sorted(sourceStatements(source, t, all).flatMap((st) => st.actions as string[]));
        const called = source === 'idempotency' ? c.bySource.handler : c.bySource[source];
        expect(granted, `${fid}/${source}`).toEqual(called);
      }
    }
  });
});

describe("the notifier's role", () => {
  it('publishes to the alert topic only and touches only the alert items of the idempotency table', () => {
    const code = statementsOf('notifier').filter((st) => st.Sid?.startsWith('Code'));
    const bySid = Object.fromEntries(code.map((st) => [st.Sid, st]));
    expect(JSON.stringify(bySid.CodePublishAlerts?.Resource)).toBe(
      JSON.stringify({ Ref: lid(s, s.stack.alerts.topic) }),
    );
    expect(bySid.CodeAlertDedupe?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['alert#*'] },
    });
    expect(JSON.stringify(bySid.CodeAlertDedupe?.Resource)).toContain(lid(s, s.stack.tables.idempotency));
    const kms = statementsOf('notifier').find((st) => st.Sid === 'PublishToEncryptedTopic');
    expect(JSON.stringify(kms?.Resource)).toContain(lid(s, s.stack.alerts.key));
  });
});

describe("the agent hosts' managed policy", () => {
  it('grants exactly the AWS actions rsqlo-agent (serve and submit) calls, nothing missing, nothing extra', async () => {
    const agent = await moduleActions(path.join(PROJECT_ROOT, 'agent/main.ts'), 'main', PROJECT_ROOT);
    expect(agent.actions.length, 'the analysis found no AWS call at all').toBeGreaterThan(0);
    const policy = s.json.Resources[lid(s, s.stack.agent.policy)];
    expect(policy?.Type).toBe('AWS::IAM::ManagedPolicy');
    const doc = policy?.Properties?.PolicyDocument as { Statement: Statement[] } | undefined;
    const statements = doc?.Statement ?? [];
    expect(sorted(statements.flatMap(actionsOf))).toEqual(agent.actions);
    for (const st of statements) expect(st.Effect).toBe('Allow');
  }, 60_000);
});

describe('the analysis follows compose.ts', () => {
  const compose = readFileSync(path.join(PROJECT_ROOT, COMPOSE_MODULE), 'utf8');

  it('knows every adapter AwsRuntime offers, built by the factory it names', () => {
    const iface = /export interface AwsRuntime \{([\s\S]*?)\n\}/.exec(compose)?.[1] ?? '';
    const methods = [...iface.matchAll(/^\s+(\w+)\(\):/gm)].map((m) => m[1] ?? '');
    expect(sorted(methods)).toEqual(sorted(Object.keys(ADAPTERS)));
    for (const [name, a] of Object.entries(ADAPTERS)) {
      expect(compose, name).toContain(a.factory);
      expect(compose, name).toContain(`./${path.basename(a.module).replace(/\.ts$/, '.js')}`);
    }
  });

  it('routes run and job effects to the bus and the queue only when those settings are read', () => {
    expect(compose).toMatch(/events: settings\.eventBus \? events\(\) : undefined/);
    expect(compose).toMatch(/queue: settings\.jobQueueUrl \? queue\(\) : undefined/);
    for (const adapter of Object.keys(EFFECT_TARGETS))
      expect(compose).toMatch(
        new RegExp(`${ADAPTERS[adapter]?.factory}\\(\\{[\\s\\S]*?effects: effects\\(\\)`),
      );
  });
});

describe('SDK call analysis', () => {
  const bundle = (body: string) => `// services/x/handler.ts\n${body}`;

  it('maps named and renamed command imports to IAM actions, ignoring imports never constructed', () => {
    const r = actionsInBundle(
      bundle(`import { PutEventsCommand, ListRulesCommand } from "@aws-sdk/client-eventbridge";
import {
  QueryCommand as QueryCommand2,
  GetItemCommand
} from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
await c.send(new PutEventsCommand({}));
await c.send(new QueryCommand2({}));
await c.send(new SendMessageBatchCommand({}));`),
    );
    expect(r.actions).toEqual(['dynamodb:Query', 'events:PutEvents', 'sqs:SendMessage']);
  });

  it('maps document-client commands and transactions to the actions that authorize them', () => {
    const r = actionsInBundle(
      bundle(`import { GetCommand, TransactWriteCommand, paginateQuery } from "@aws-sdk/lib-dynamodb";
new GetCommand({});
for await (const p of paginateQuery({ client }, {})) {}
new TransactWriteCommand({ TransactItems: [{ Put: { TableName: t } }, { ConditionCheck: { TableName: t } }] });`),
    );
    expect(r.actions).toEqual([
      'dynamodb:ConditionCheckItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
    ]);
  });

  it('refuses aggregated clients and namespace imports instead of guessing', () => {
    expect(() =>
      actionsInBundle(
        bundle('import { EventBridge } from "@aws-sdk/client-eventbridge";\nnew EventBridge({});'),
      ),
    ).toThrow(SdkActionsError);
    expect(() =>
      actionsInBundle(bundle('import * as sqs from "@aws-sdk/client-sqs";\nnew sqs.SendMessageCommand({});')),
    ).toThrow(/namespace/);
  });

  it('reads settings and adapters off a handler source', () => {
    const src = `const settings = readSettings(\n  ['jobAuditTable', 'eventBus'],\n  ['agentTag'],\n);\nconst x = aws.jobs(); aws.events(); aws.jobs();`;
    expect(handlerSettings(src)).toEqual({ required: ['jobAuditTable', 'eventBus'], optional: ['agentTag'] });
    expect(handlerAdapters(src)).toEqual(['events', 'jobs']);
  });
});
