import validator from 'asl-validator';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AgentConfigSchema } from '../agent/config.js';
import { EVENT_SOURCE } from '../contracts/events.js';
import { RUN_OVERDUE_ERROR } from '../contracts/run-watch.js';
import { ALERT_ROUTES, BUS_SERVICES, routedDetailTypes, SERVICE_ROUTES } from '../events/routing.js';
import { DEFAULT_LOG_GROUP } from '../runtime/aws/cloudwatch-logs.js';
import { IDEMPOTENCY_TABLE } from '../runtime/aws/idempotency.js';
import { ENV } from '../runtime/aws/settings.js';
import { ssmDocumentContent } from '../runtime/aws/ssm-document.js';
import { AGGREGATOR_STREAM_FILTERS, TABLES, tableNames } from '../runtime/aws/tables.js';
import {
  DISPATCH_RETRY_ERRORS,
  JOB_FAILED_ERROR,
  STALE_TASK_ERROR,
} from '../runtime/aws/wrapper-definition.js';
import { ALERT_LEASE_SECONDS, ALERT_MEMORY_SECONDS } from '../services/notifier/service.js';
import { deployedWrapperDefinitionString, placeholder } from './constructs/job-wrapper.js';
import { SUBSCRIBER_RULE_ACTIONS } from './constructs/rsqlo-event-bus.js';
import { FUNCTION_IDS, FUNCTIONS } from './rsqlo-stack.js';
import { registrySchemas } from './schema-registry.js';
import {
  actionsOf,
  type CfnResource,
  getAtt,
  lid,
  ref,
  resources,
  resourcesOf,
  roleStatements,
  type Synthesized,
  synth,
  TEST_CONTEXT,
} from './testing.js';

// biome-ignore lint/suspicious/noExplicitAny: assertions walk CloudFormation JSON freely
type Cfn = any;

let s: Synthesized;
beforeAll(() => {
  s = synth();
});

const props = (r: CfnResource | undefined) => (r?.Properties ?? {}) as Record<string, Cfn>;
const one = (
  type: string,
  pred: (p: Record<string, Cfn>) => boolean = () => true,
): [string, Record<string, Cfn>] => {
  const found = resources(s.json, type).filter(([, r]) => pred(props(r)));
  expect(found, type).toHaveLength(1);
  const [id, r] = found[0] as [string, CfnResource];
  return [id, props(r)];
};
/** asl-validator's errors (none when the definition is valid). */
const valid = (definition: unknown) => {
  const r = validator(definition as Record<string, unknown>);
  expect(r.isValid).toBe(r.errors.length === 0);
  return r.errors;
};
const fnId = (fid: (typeof FUNCTION_IDS)[number]) => lid(s, s.stack.functions[fid].function);
const roleId = (fid: (typeof FUNCTION_IDS)[number]) => lid(s, s.stack.functions[fid].role);

describe('tables', () => {
  const names = tableNames('rsqlo');

  it('creates the three tables of runtime/aws/tables.ts: keys, indexes, PITR, encryption, retained', () => {
    for (const spec of TABLES) {
      const [id, p] = one('AWS::DynamoDB::Table', (q) => q.TableName === names[spec.id]);
      const keys = [spec.partitionKey, spec.sortKey].filter(Boolean);
      expect(p.KeySchema).toEqual(
        keys.map((k, i) => ({ AttributeName: k?.name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
      );
      expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(p.SSESpecification).toEqual({ SSEEnabled: true });
      expect(p.BillingMode).toBe('PAY_PER_REQUEST');
      expect(p.DeletionProtectionEnabled).toBe(true);
      expect(s.json.Resources[id]?.DeletionPolicy).toBe('Retain');
      expect(
        (p.GlobalSecondaryIndexes ?? []).map((g: Cfn) => [
          g.IndexName,
          g.KeySchema.map((k: Cfn) => k.AttributeName),
          g.Projection,
        ]),
      ).toEqual(
        spec.globalSecondaryIndexes.map((g) => [
          g.indexName,
          [g.partitionKey.name, g.sortKey?.name].filter(Boolean),
          { ProjectionType: 'KEYS_ONLY' },
        ]),
      );
      expect(
        (p.LocalSecondaryIndexes ?? []).map((g: Cfn) => [
          g.IndexName,
          g.KeySchema.map((k: Cfn) => k.AttributeName),
          g.Projection,
        ]),
      ).toEqual(
        spec.localSecondaryIndexes.map((l) => [
          l.indexName,
          [spec.partitionKey.name, l.sortKey.name],
          { ProjectionType: 'KEYS_ONLY' },
        ]),
      );
      expect(p.StreamSpecification).toEqual(
        spec.stream ? { StreamViewType: 'NEW_AND_OLD_IMAGES' } : undefined,
      );
    }
  });

  it('names the audit tables v2 (KEYS_ONLY indexes) so a deployed stack gets new ones and retains the v1 tables', () => {
    // A changed TableName replaces the resource; UpdateReplacePolicy Retain keeps the old table
    // (infra/DEPLOY.md, "Upgrading to the v2 audit tables"; infra/migrate-audit-tables.ts copies it).
    expect([names.workflowAudit, names.jobAudit]).toEqual(['rsqlo-workflow-audit-v2', 'rsqlo-job-audit-v2']);
    for (const name of [names.workflowAudit, names.jobAudit]) {
      const [id] = one('AWS::DynamoDB::Table', (q) => q.TableName === name);
      expect(s.json.Resources[id]?.UpdateReplacePolicy).toBe('Retain');
    }
    expect(names.config).toBe('rsqlo-config');
  });

  it('creates the idempotency table with its TTL attribute', () => {
    const [, p] = one('AWS::DynamoDB::Table', (q) => q.TableName === 'rsqlo-idempotency');
    expect(p.KeySchema).toEqual([{ AttributeName: IDEMPOTENCY_TABLE.partitionKey.name, KeyType: 'HASH' }]);
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'expiration', Enabled: true });
    expect(p.SSESpecification).toEqual({ SSEEnabled: true });
  });

  it('uses the configured table prefix', () => {
    const other = synth({ table_prefix: 'etl-prod' });
    const tableNamesSynth = resources(other.json, 'AWS::DynamoDB::Table')
      .map(([, r]) => props(r).TableName)
      .sort();
    expect(tableNamesSynth).toEqual(
      [...Object.values(tableNames('etl-prod')), 'etl-prod-idempotency'].sort(),
    );
  });
});

describe('job queue', () => {
  it('redrives to an encrypted dead-letter queue after 5 receives', () => {
    const queueId = lid(s, s.stack.jobQueue.queue);
    const dlqId = lid(s, s.stack.jobQueue.deadLetterQueue);
    const q = props(s.json.Resources[queueId]);
    expect(q.RedrivePolicy).toEqual({ deadLetterTargetArn: getAtt(dlqId, 'Arn'), maxReceiveCount: 5 });
    expect(q.SqsManagedSseEnabled).toBe(true);
    expect(q.VisibilityTimeout).toBe(6 * FUNCTIONS.dispatcher.timeout.toSeconds());
    expect(props(s.json.Resources[dlqId]).MessageRetentionPeriod).toBe(14 * 86_400);
  });

  it('feeds the dispatcher with partial batch responses and a concurrency cap', () => {
    const [, m] = one('AWS::Lambda::EventSourceMapping', (p) => p.FunctionName?.Ref === fnId('dispatcher'));
    expect(m).toMatchObject({
      EventSourceArn: getAtt(lid(s, s.stack.jobQueue.queue), 'Arn'),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
      BatchSize: 10,
    });
  });

  it('enforces TLS on every queue', () => {
    const queues = resources(s.json, 'AWS::SQS::Queue').map(([id]) => id);
    const policies = resources(s.json, 'AWS::SQS::QueuePolicy').map(([, r]) => props(r));
    for (const q of queues) {
      const policy = policies.find((p) => p.Queues.some((x: Cfn) => x.Ref === q));
      expect(policy, q).toBeDefined();
      expect(policy?.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('job audit stream → aggregator', () => {
  const mapping = () =>
    one('AWS::Lambda::EventSourceMapping', (p) => p.FunctionName?.Ref === fnId('aggregator'))[1];

  it('filters with exactly AGGREGATOR_STREAM_FILTERS', () => {
    const patterns = mapping().FilterCriteria.Filters.map((f: { Pattern: string }) => JSON.parse(f.Pattern));
    expect(patterns).toEqual(AGGREGATOR_STREAM_FILTERS);
  });

  it('bisects failing batches, bounds retries and record age, reports item failures, and keeps failures in a DLQ', () => {
    const m = mapping();
    expect(m).toMatchObject({
      EventSourceArn: getAtt(lid(s, s.stack.tables.jobAudit), 'StreamArn'),
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      MaximumRecordAgeInSeconds: 86_400,
      MaximumRetryAttempts: 10,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Destination: getAtt(lid(s, s.stack.aggregatorStream.deadLetterQueue), 'Arn') },
      },
    });
  });
});

describe('bus', () => {
  it('archives every rsqlo event', () => {
    const [, a] = one('AWS::Events::Archive');
    expect(a.SourceArn).toEqual(getAtt(lid(s, s.stack.bus.bus), 'Arn'));
    expect(a.EventPattern).toEqual({ source: [EVENT_SOURCE] });
    expect(a.RetentionDays).toBe(90);
  });

  it('registers the generated schemas (Draft 4) in its own registry', () => {
    const [regId] = one('AWS::EventSchemas::Registry');
    const schemas = resources(s.json, 'AWS::EventSchemas::Schema').map(([, r]) => props(r));
    const expected = registrySchemas();
    expect(schemas.map((x) => x.SchemaName).sort()).toEqual(expected.map((x) => x.name).sort());
    for (const e of expected) {
      const got = schemas.find((x) => x.SchemaName === e.name);
      expect(got?.Type).toBe('JSONSchemaDraft4');
      expect(got?.Content).toBe(e.content);
      expect(got?.RegistryName).toEqual(getAtt(regId, 'RegistryName'));
    }
  });

  it('lets the allowed accounts manage only the rules they created on the bus', () => {
    const [, p] = one('AWS::Events::EventBusPolicy');
    expect(p.EventBusName).toEqual(ref(lid(s, s.stack.bus.bus)));
    expect(p.Statement).toMatchObject({
      Effect: 'Allow',
      Action: [...SUBSCRIBER_RULE_ACTIONS],
      Condition: { StringEqualsIfExists: { 'events:creatorAccount': '111122223333' } },
    });
    expect(JSON.stringify(p.Statement.Principal)).toContain('111122223333');
    expect(JSON.stringify(p.Statement.Resource)).toContain(':rule/rsqlo/*');
    expect(
      resources(synth({ allow_subscribe_account_ids: undefined }).json, 'AWS::Events::EventBusPolicy'),
    ).toEqual([]);
  });
});

describe('rules from the routing table', () => {
  const lambdaRules = () =>
    resources(s.json, 'AWS::Events::Rule').filter(([, r]) =>
      props(r).Targets.some((t: Cfn) =>
        FUNCTION_IDS.some((f) => JSON.stringify(t.Arn) === JSON.stringify(getAtt(fnId(f), 'Arn'))),
      ),
    );

  it('has exactly one rule per SERVICE_ROUTES entry, with its pattern, targeting its service', () => {
    expect(lambdaRules()).toHaveLength(SERVICE_ROUTES.length + ALERT_ROUTES.length);
    for (const route of SERVICE_ROUTES) {
      const [, r] = one('AWS::Events::Rule', (p) => p.Name === `rsqlo-${route.id}`);
      expect(r.EventPattern).toEqual(route.pattern);
      expect(r.EventBusName).toEqual(ref(lid(s, s.stack.bus.bus)));
      expect(r.Targets).toHaveLength(1);
      expect(r.Targets[0]).toMatchObject({
        Arn: getAtt(fnId(route.target), 'Arn'),
        DeadLetterConfig: { Arn: expect.anything() },
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 86_400 },
      });
    }
  });

  it('sends each bus function exactly the detail-types its entry accepts (routedDetailTypes)', () => {
    // test/bus-entries.test.ts proves each entry accepts exactly routedDetailTypes(service).
    for (const service of BUS_SERVICES) {
      const delivered = lambdaRules()
        .filter(
          ([, r]) => JSON.stringify(props(r).Targets[0].Arn) === JSON.stringify(getAtt(fnId(service), 'Arn')),
        )
        .flatMap(([, r]) => props(r).EventPattern['detail-type'] as string[]);
      expect(delivered, service).toEqual(routedDetailTypes(service));
    }
  });

  it('sends events a bus-driven function keeps failing on to the failed-events queue', () => {
    for (const fid of ['starter', 'planner', 'recorder', 'trigger', 'notifier'] as const) {
      const [, c] = one('AWS::Lambda::EventInvokeConfig', (p) => p.FunctionName?.Ref === fnId(fid));
      expect(c).toMatchObject({
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 6 * 3600,
        DestinationConfig: { OnFailure: { Destination: expect.anything() } },
      });
    }
  });
});

describe('alerts', () => {
  it('encrypts the topic with a rotated customer managed key that CloudWatch alarms and the notifier may use', () => {
    const [keyId, key] = one('AWS::KMS::Key');
    expect(key.EnableKeyRotation).toBe(true);
    const principals = key.KeyPolicy.Statement.map((st: Cfn) => st.Principal?.Service).filter(Boolean);
    // EventBridge no longer publishes to the topic (the notifier does): it has no use of the key.
    expect(principals).toEqual(['cloudwatch.amazonaws.com']);
    const [, topic] = one('AWS::SNS::Topic');
    expect(topic.KmsMasterKeyId).toEqual(getAtt(keyId, 'Arn'));
    const [, policy] = one('AWS::SNS::TopicPolicy');
    expect(policy.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    const kms = roleStatements(s.json, roleId('notifier')).find((st) => st.Sid === 'PublishToEncryptedTopic');
    expect(kms).toMatchObject({
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      Resource: getAtt(keyId, 'Arn'),
    });
  });

  it('subscribes alert_email, and nobody without it', () => {
    const [, sub] = one('AWS::SNS::Subscription');
    expect(sub).toMatchObject({ Protocol: 'email', Endpoint: TEST_CONTEXT.alert_email });
    expect(resources(synth({ alert_email: undefined }).json, 'AWS::SNS::Subscription')).toEqual([]);
  });

  it('has one rule per ALERT_ROUTES entry, with its pattern, invoking the notifier (no input transformer)', () => {
    const rules = s.stack.alerts.rules;
    expect(rules).toHaveLength(ALERT_ROUTES.length);
    for (const [i, route] of ALERT_ROUTES.entries()) {
      const [id, r] = one('AWS::Events::Rule', (p) => p.Name === `rsqlo-${route.id}`);
      // The rules keep the logical ids they had when they targeted the topic.
      expect(id).toBe(lid(s, rules[i] as IConstruct));
      expect(s.stack.node.findChild('Alerts').node.tryFindChild(route.id)).toBe(rules[i]);
      expect(r.EventPattern).toEqual(route.pattern);
      expect(r.EventBusName).toEqual(ref(lid(s, s.stack.bus.bus)));
      expect(r.Targets).toHaveLength(1);
      expect(r.Targets[0]).toEqual({
        Id: expect.any(String),
        Arn: getAtt(fnId('notifier'), 'Arn'),
        DeadLetterConfig: { Arn: expect.anything() },
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 86_400 },
      });
    }
    const env = props(s.json.Resources[fnId('notifier')]).Environment.Variables;
    expect(env[ENV.alertTopicArn]).toEqual(ref(lid(s, s.stack.alerts.topic)));
    expect(env[ENV.logGroup]).toBe(DEFAULT_LOG_GROUP);
  });

  it('dedupes longer than the function runs and the archive replays, shorter than a retry comes', () => {
    const timeout = props(s.json.Resources[fnId('notifier')]).Timeout as number;
    expect(timeout).toBeLessThan(ALERT_LEASE_SECONDS);
    // Lambda retries a failed asynchronous invocation after a minute: a dead holder's claim has passed.
    expect(ALERT_LEASE_SECONDS).toBeLessThan(60);
    const [, archive] = one('AWS::Events::Archive');
    expect(archive.RetentionDays * 86_400).toBeLessThanOrEqual(ALERT_MEMORY_SECONDS);
  });
});

describe('single-job wrapper', () => {
  const sm = () =>
    one('AWS::StepFunctions::StateMachine', (p) => p.StateMachineName === 'rsqlo-job-wrapper')[1];
  const definition = () => JSON.parse(sm().DefinitionString) as { States: Record<string, Cfn> };

  it('deploys exactly runtime/aws/wrapper-definition.ts, the dispatcher task and bus substituted', () => {
    expect(sm().DefinitionString).toBe(deployedWrapperDefinitionString());
    expect(sm().DefinitionSubstitutions).toEqual({
      DispatcherTaskFunctionArn: getAtt(fnId('dispatcherTask'), 'Arn'),
      EventBusName: ref(lid(s, s.stack.bus.bus)),
      Partition: ref('AWS::Partition'),
    });
    expect(s.stack.wrapperArn).toContain('rsqlo-job-wrapper');
  });

  it('waits with the job\'s own timeout and heartbeat, retrying Lambda errors and "no agent yet"', () => {
    const d = definition().States.Dispatch;
    expect(d).toMatchObject({
      Type: 'Task',
      Resource: `arn:${placeholder('Partition')}:states:::lambda:invoke.waitForTaskToken`,
      TimeoutSecondsPath: '$.timeout_seconds',
      HeartbeatSecondsPath: '$.heartbeat_seconds',
      Parameters: {
        FunctionName: placeholder('DispatcherTaskFunctionArn'),
        Payload: { 'task_token.$': '$$.Task.Token' },
      },
    });
    expect(d.Retry[0].ErrorEquals).toEqual([...DISPATCH_RETRY_ERRORS]);
  });

  it('catches timeout, lost heartbeat and dispatch failures into JobFinished events, and agent-reported failures quietly', () => {
    const states = definition().States;
    // The first catcher that names the error; Choice and Pass states on the way are followed to the
    // report (a dispatch error without a Cause gets one first).
    const catchOf = (err: string) => {
      let next = states.Dispatch.Catch.find((c: Cfn) => c.ErrorEquals.includes(err))?.Next;
      while (states[next].Type === 'Choice' || states[next].Type === 'Pass')
        next = states[next].Type === 'Choice' ? states[next].Choices[0].Next : states[next].Next;
      return next;
    };
    const report = (state: string) => states[state].Parameters.Entries[0];
    for (const [err, status] of [
      ['States.Timeout', 'TimedOut'],
      ['States.HeartbeatTimeout', 'TimedOut'],
      ['States.ALL', 'Failed'],
    ] as const) {
      const next = catchOf(err);
      expect(states[next].Resource, err).toBe(`arn:${placeholder('Partition')}:states:::events:putEvents`);
      expect(report(next)).toMatchObject({
        EventBusName: placeholder('EventBusName'),
        Source: EVENT_SOURCE,
        DetailType: 'JobFinished',
        Detail: { status, reported_by: 'wrapper' },
      });
    }
    expect(states[catchOf(JOB_FAILED_ERROR)].Type).toBe('Fail');
    expect(states[catchOf(STALE_TASK_ERROR)].Type).toBe('Succeed');
  });

  it('passes asl-validator with the substitutions filled in, in every partition', () => {
    for (const partition of ['aws', 'aws-cn', 'aws-us-gov']) {
      const filled = sm()
        .DefinitionString.replace(
          placeholder('DispatcherTaskFunctionArn'),
          `arn:${partition}:lambda:eu-west-1:123456789012:function:rsqlo-dispatcher-task`,
        )
        .replace(placeholder('EventBusName'), 'rsqlo')
        .split(placeholder('Partition'))
        .join(partition);
      expect(valid(JSON.parse(filled)), partition).toEqual([]);
    }
  });

  it('logs ALL events to its own log group and traces with X-Ray', () => {
    const p = sm();
    expect(p.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
    expect(p.StateMachineType).toBe('STANDARD');
  });

  it('may invoke the dispatcher task function and put events on the bus, nothing else of ours', () => {
    const st = roleStatements(s.json, lid(s, s.stack.wrapper.stateMachine.role));
    const own = st.filter((x) => x.Sid);
    expect(own.map((x) => [x.Sid, actionsOf(x), resourcesOf(x)])).toEqual([
      ['InvokeDispatcherTask', ['lambda:InvokeFunction'], [getAtt(fnId('dispatcherTask'), 'Arn')]],
      ['ReportOnBus', ['events:PutEvents'], [getAtt(lid(s, s.stack.bus.bus), 'Arn')]],
    ]);
    // The rest is what Step Functions needs for logging and tracing.
    for (const x of st.filter((y) => !y.Sid))
      expect(actionsOf(x).every((a) => a.startsWith('logs:') || a.startsWith('xray:'))).toBe(true);
  });
});

describe('agent hosts', () => {
  it('deploys exactly runtime/aws/ssm-document.ts as a Command document updated in place', () => {
    const [, d] = one('AWS::SSM::Document', (p) => p.Name === 'rsqlo-submit-job');
    expect(d).toMatchObject({
      Name: 'rsqlo-submit-job',
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      UpdateMethod: 'NewVersion',
    });
    expect(d.Content).toEqual(ssmDocumentContent());
  });

  it('keeps job logs in /ops/rsql-logs/ with a retention', () => {
    const [, g] = one('AWS::Logs::LogGroup', (p) => p.LogGroupName === DEFAULT_LOG_GROUP);
    expect(g.RetentionInDays).toBe(90);
  });

  it('gives the hosts a managed policy with exactly: the secret, PutEvents, the wrapper tokens and executions, the job logs', () => {
    const [, p] = one('AWS::IAM::ManagedPolicy');
    const st = p.PolicyDocument.Statement as Cfn[];
    expect(st.map((x) => [x.Sid, [x.Action].flat()])).toEqual([
      ['ReadRedshiftSecret', ['secretsmanager:GetSecretValue']],
      ['ReportJobEvents', ['events:PutEvents']],
      [
        'AnswerWrapperTaskTokens',
        ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
      ],
      ['ReadWrapperExecutions', ['states:DescribeExecution']],
      ['WriteJobLogs', ['logs:CreateLogStream', 'logs:PutLogEvents']],
      // The agent bundle (infra/agent-install.test.ts) and the shipped script versions.
      ['ReadShippedFiles', ['s3:GetObject']],
    ]);
    expect(JSON.stringify(st[0].Resource)).toContain(':secret:rsqlo/redshift-??????');
    expect(st[1].Resource).toEqual(getAtt(lid(s, s.stack.bus.bus), 'Arn'));
    expect(st[2].Resource).toEqual(ref(lid(s, s.stack.wrapper.stateMachine)));
    expect(JSON.stringify(st[3].Resource)).toContain(':execution:');
    expect(JSON.stringify(st[3].Resource)).toContain(':*');
    expect(st[4].Resource).toEqual(getAtt(lid(s, s.stack.agent.logGroup), 'Arn'));
  });

  it("uses job_log_group for the job log group, the hosts' policy, the alerts and the agent config", () => {
    const other = synth({ job_log_group: '/rsqlo/dev/jobs' });
    const groups = resources(other.json, 'AWS::Logs::LogGroup').map(([, r]) => props(r).LogGroupName);
    expect(groups).toContain('/rsqlo/dev/jobs');
    expect(groups).not.toContain(DEFAULT_LOG_GROUP);
    const text = JSON.stringify(other.json);
    expect(text).not.toContain(DEFAULT_LOG_GROUP);
    expect(JSON.stringify(other.json.Outputs?.AgentConfig)).toContain('/rsqlo/dev/jobs');
  });

  it('names a secret given as an ARN as-is', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/redshift-AbCdEf';
    const other = synth({ redshift_secret_id: arn });
    const [, p] = resources(other.json, 'AWS::IAM::ManagedPolicy')[0] as [string, CfnResource];
    expect(props(p).PolicyDocument.Statement[0].Resource).toBe(arn);
  });

  it('outputs the agent configuration in the shape agent/config.ts reads', () => {
    const out = s.json.Outputs?.AgentConfig?.Value;
    const text = JSON.stringify(out);
    const keys = [...text.matchAll(/\\"([A-Za-z]+)\\":/g)].map((m) => m[1] as string);
    expect(keys.sort()).toEqual([
      'bucket',
      'eventBusName',
      'keyPrefix',
      'logDir',
      'logGroup',
      'redshiftSecretId',
      'region',
      'scriptRoot',
      'shippedScripts',
    ]);
    // bucket and keyPrefix sit inside shippedScripts (the fixture workflows ship scripts).
    const nested = ['bucket', 'keyPrefix'];
    for (const k of keys.filter((k) => !nested.includes(k)))
      expect(Object.keys(AgentConfigSchema.shape)).toContain(k);
    for (const k of nested)
      expect(Object.keys(AgentConfigSchema.shape.shippedScripts.unwrap().shape)).toContain(k);
    expect(text).toContain(TEST_CONTEXT.rsql_script_path);
    expect(text).toContain(TEST_CONTEXT.rsql_log_path);
  });
});

describe('functions', () => {
  it('run Node.js 22 on ARM64 with JSON logs in a log group with retention and X-Ray tracing', () => {
    for (const fid of FUNCTION_IDS) {
      const p = props(s.json.Resources[fnId(fid)]);
      expect(p).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: `index.${FUNCTIONS[fid].handlerExport}`,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: ref(lid(s, s.stack.functions[fid].logGroup)) },
        Role: getAtt(roleId(fid), 'Arn'),
      });
      expect(props(s.json.Resources[lid(s, s.stack.functions[fid].logGroup)]).RetentionInDays).toBe(90);
    }
  });

  it('get exactly the settings their handler reads in their environment', () => {
    for (const fid of FUNCTION_IDS) {
      const vars = Object.keys(props(s.json.Resources[fnId(fid)]).Environment.Variables)
        .filter((v) => v.startsWith('RSQLO_'))
        .sort();
      expect(vars, fid).toEqual(FUNCTIONS[fid].settings.map((k) => ENV[k]).sort());
    }
  });
});

describe('IAM resources per function', () => {
  const arnsOf = (fid: (typeof FUNCTION_IDS)[number], action: string) =>
    roleStatements(s.json, roleId(fid))
      .filter((x) => actionsOf(x).includes(action))
      .flatMap((x) => resourcesOf(x).map((r) => JSON.stringify(r)));
  const table = (id: 'config' | 'workflowAudit' | 'jobAudit' | 'idempotency') =>
    JSON.stringify(getAtt(lid(s, s.stack.tables[id]), 'Arn'));

  it('keeps the recorder on the job audit table', () => {
    const all = roleStatements(s.json, roleId('recorder')).flatMap((x) =>
      resourcesOf(x).map((r) => JSON.stringify(r)),
    );
    expect(
      all.some((r) => r.includes('workflowAudit') || r.includes('Tablesconfig') || r.includes('idempotency')),
    ).toBe(false);
    expect(arnsOf('recorder', 'dynamodb:UpdateItem')).toEqual([table('jobAudit')]);
  });

  it('lets only the starter, the aggregator and the trigger touch the config table, and only the starter and the trigger read definitions', () => {
    // Pool items aside (issue 14): every statement on the config table that is not narrowed to
    // `pool:` keys by its LeadingKeys.
    const poolOnly = (x: { Condition?: unknown }) =>
      JSON.stringify(x.Condition) ===
      JSON.stringify({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['pool:*'] } });
    const configArns = (fid: (typeof FUNCTION_IDS)[number], action: string) =>
      roleStatements(s.json, roleId(fid))
        .filter((x) => actionsOf(x).includes(action) && !poolOnly(x))
        .flatMap((x) => resourcesOf(x).map((r) => JSON.stringify(r)));
    for (const fid of FUNCTION_IDS) {
      const touches = configArns(fid, 'dynamodb:GetItem').includes(table('config'));
      expect(touches, fid).toBe(fid === 'starter' || fid === 'aggregator' || fid === 'trigger');
      expect(arnsOf(fid, 'dynamodb:Scan'), fid).toEqual([]);
    }
    expect(arnsOf('starter', 'dynamodb:PutItem')).toContain(table('config'));
    expect(configArns('aggregator', 'dynamodb:PutItem')).not.toContain(table('config'));
  });

  it('gives the planner and the dispatcher the `pool:` items of the config table and nothing else of it', () => {
    for (const fid of ['planner', 'dispatcher'] as const) {
      const config = roleStatements(s.json, roleId(fid)).filter((x) =>
        resourcesOf(x).some((r) => JSON.stringify(r) === table('config')),
      );
      expect(
        config.map((x) => x.Condition),
        fid,
      ).toEqual([{ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['pool:*'] } }]);
    }
    // The starter's workflow holds are `hold:` items, narrowed the same way.
    const holds = roleStatements(s.json, roleId('starter')).find((x) => x.Sid === 'CodeOperatorHolds');
    expect(holds?.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['hold:*'] } });
  });

  it('lets only the dispatcher task use the idempotency table; only it and the starter (cancel) send SSM commands, to the agents only', () => {
    for (const fid of FUNCTION_IDS) {
      const dispatch = fid === 'dispatcherTask';
      // The notifier keeps its alert items there too, and the watchdog its start_by marks, and
      // only those (their statements' LeadingKeys).
      expect(arnsOf(fid, 'dynamodb:PutItem').includes(table('idempotency')), fid).toBe(
        dispatch || fid === 'notifier' || fid === 'watchdog',
      );
      expect(arnsOf(fid, 'ssm:SendCommand').length > 0, fid).toBe(dispatch || fid === 'starter');
    }
    const alertItems = roleStatements(s.json, roleId('notifier')).filter((x) =>
      resourcesOf(x).some((r) => JSON.stringify(r) === table('idempotency')),
    );
    expect(alertItems.map((x) => x.Condition)).toEqual([
      { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['alert#*'] } },
    ]);
    const startByMarks = roleStatements(s.json, roleId('watchdog')).filter((x) =>
      resourcesOf(x).some((r) => JSON.stringify(r) === table('idempotency')),
    );
    expect(startByMarks.map((x) => x.Condition)).toEqual([
      { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['sla-start_by#*'] } },
    ]);
    for (const fid of ['dispatcherTask', 'starter'] as const) {
      const send = roleStatements(s.json, roleId(fid)).filter((x) =>
        actionsOf(x).includes('ssm:SendCommand'),
      );
      const text = JSON.stringify(send);
      expect(text, fid).toContain('document/rsqlo-submit-job');
      expect(text, fid).toContain('instance/i-0123456789abcdef0');
      expect(text, fid).toContain('instance/i-0fedcba9876543210');
      const tagged = send.find((x) => x.Condition);
      expect(tagged?.Condition, fid).toEqual({ StringEquals: { 'ssm:resourceTag/rsqlo-agent': 'true' } });
    }
  });

  it('grants queries on the indexes the code queries, not on whole tables', () => {
    for (const fid of FUNCTION_IDS) {
      for (const r of arnsOf(fid, 'dynamodb:Query'))
        expect(r, fid).toMatch(/\/index\/(by_workflow|by_sequence)/);
    }
  });

  it('lets the starter stop only wrapper executions and start only the wrapper', () => {
    expect(arnsOf('starter', 'states:StartExecution').join()).toContain('stateMachine:rsqlo-job-wrapper');
    expect(arnsOf('starter', 'states:StopExecution').join()).toContain('execution:rsqlo-job-wrapper:*');
  });
});

describe('schedules and definitions', () => {
  it('schedules each deployed definition that has a schedule, in its time zone, putting WorkflowRequested', () => {
    const [, nightly] = one('AWS::Scheduler::Schedule', (p) => p.Name === 'nightly_sales_load');
    expect(nightly).toMatchObject({
      GroupName: 'rsqlo',
      ScheduleExpression: 'cron(30 2 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      State: 'ENABLED',
      Target: {
        Arn: getAtt(lid(s, s.stack.bus.bus), 'Arn'),
        EventBridgeParameters: { DetailType: 'WorkflowRequested', Source: EVENT_SOURCE },
        DeadLetterConfig: { Arn: expect.anything() },
      },
    });
    expect(JSON.parse(nightly.Target.Input)).toEqual({
      version: 1,
      workflow_id: 'nightly_sales_load',
      scheduled_time: '<aws.scheduler.scheduled-time>',
      requested_by: 'schedule:rsqlo/nightly_sales_load',
    });
    const [, hourly] = one('AWS::Scheduler::Schedule', (p) => p.Name === 'hourly_refresh');
    expect(hourly).toMatchObject({
      ScheduleExpression: 'rate(1 hour)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'DISABLED',
    });
    expect(resources(s.json, 'AWS::Scheduler::Schedule')).toHaveLength(2);
  });

  it('loads every definition into the config table at deploy, keeping the active-run slots', () => {
    const loaders = resources(s.json, 'Custom::RsqloWorkflowDefinition');
    expect(
      loaders
        .map(([, r]) => JSON.stringify(props(r).Create).match(/workflow_id\\":\{\\"S\\":\\"([a-z_]+)/)?.[1])
        .sort(),
    ).toEqual(['blog_test_workflow', 'hourly_refresh', 'nightly_sales_load']);
    for (const [, r] of loaders) {
      const create = JSON.stringify(props(r).Create);
      expect(create).toContain('updateItem');
      expect(create).not.toContain('rsqlo_active_runs');
    }
  });

  it('deploys no definitions, schedules or loader without a workflows folder', () => {
    const none = synth({ workflows_path: undefined }).json;
    expect(resources(none, 'Custom::RsqloWorkflowDefinition')).toEqual([]);
    expect(resources(none, 'AWS::Scheduler::Schedule')).toEqual([]);
    expect(resources(none, 'AWS::Lambda::Function')).toHaveLength(FUNCTION_IDS.length);
  });
});

describe('run watchdog', () => {
  it('is no state machine and no bus rule any more: one Scheduler one-time schedule per run', () => {
    expect(
      resources(s.json, 'AWS::StepFunctions::StateMachine').map(([, r]) => props(r).StateMachineName),
    ).toEqual(['rsqlo-job-wrapper']);
    expect(
      resources(s.json, 'AWS::Events::Rule').filter(([, r]) => props(r).Name === 'rsqlo-run-watchdog'),
    ).toEqual([]);
  });

  it("gives the starter the group, the watchdog's ARN, the role and the dead-letter queue", () => {
    const [, group] = one('AWS::Scheduler::ScheduleGroup', (p) => p.Name === 'rsqlo-runs');
    expect(group.Name).toBe('rsqlo-runs');
    const env = props(s.json.Resources[fnId('starter')]).Environment.Variables;
    expect(env[ENV.runWatchGroup]).toBe('rsqlo-runs');
    expect(env[ENV.runWatchTargetArn]).toEqual(getAtt(fnId('watchdog'), 'Arn'));
    expect(env[ENV.runWatchRoleArn]).toEqual(getAtt(lid(s, s.stack.watchdog.role), 'Arn'));
    expect(env[ENV.runWatchDeadLetterArn]).toEqual(
      getAtt(lid(s, s.stack.node.findChild('UndeliveredEvents')), 'Arn'),
    );
  });

  it("Scheduler's role: assumed by scheduler.amazonaws.com from this account's run checks, invokes the watchdog only", () => {
    const role = props(s.json.Resources[lid(s, s.stack.watchdog.role)]);
    const trust = role.AssumeRolePolicyDocument.Statement;
    expect(trust).toHaveLength(1);
    expect(trust[0].Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
    expect(trust[0].Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(JSON.stringify(trust[0].Condition.ArnLike['aws:SourceArn'])).toContain(':schedule/rsqlo-runs/*');
    const statements = roleStatements(s.json, lid(s, s.stack.watchdog.role));
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    expect(Object.keys(bySid).sort()).toEqual(['DeadLetters', 'InvokeWatchdog']);
    expect(bySid.InvokeWatchdog?.Action).toBe('lambda:InvokeFunction');
    expect(bySid.InvokeWatchdog?.Resource).toEqual(getAtt(fnId('watchdog'), 'Arn'));
    expect(bySid.DeadLetters?.Action).toBe('sqs:SendMessage');
  });

  it('lets the starter create schedules in the run-check group only and pass exactly that role, to Scheduler only', () => {
    const statements = roleStatements(s.json, roleId('starter'));
    const create = statements.find((st) => st.Sid === 'CodeCreateRunChecks');
    expect(create?.Action).toBe('scheduler:CreateSchedule');
    expect(JSON.stringify(create?.Resource)).toContain(':schedule/rsqlo-runs/*');
    const pass = statements.find((st) => st.Sid === 'CodePassRunCheckRole');
    expect(pass?.Action).toBe('iam:PassRole');
    expect(pass?.Resource).toEqual(getAtt(lid(s, s.stack.watchdog.role), 'Arn'));
    expect(pass?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
    expect(RUN_OVERDUE_ERROR).toBe('RunOverdue');
  });
});

describe('alarms and dashboard', () => {
  const alarms = () => resources(s.json, 'AWS::CloudWatch::Alarm').map(([, r]) => props(r));

  it("alarms on every dead-letter queue, failed workflows, each function's errors and overdue runs, to the topic", () => {
    const byName = new Map(alarms().map((a) => [a.AlarmName, a]));
    for (const q of ['job-queue', 'job-audit-stream', 'undelivered-events', 'failed-events'])
      expect(byName.get(`rsqlo-dlq-not-empty-${q}`)).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    expect(byName.get('rsqlo-workflows-failed')).toMatchObject({
      Namespace: 'AWS/Events',
      MetricName: 'MatchedEvents',
      Dimensions: [
        { Name: 'EventBusName', Value: ref(lid(s, s.stack.bus.bus)) },
        {
          Name: 'RuleName',
          Value: ref(
            lid(
              s,
              s.stack.alerts.rules[
                ALERT_ROUTES.findIndex((r) => r.id === 'alert-workflow-failed')
              ] as IConstruct,
            ),
          ),
        },
      ],
    });
    // The dispatcher task's alarm leaves "no agent online" out (infra/monitoring.test.ts).
    for (const fid of FUNCTION_IDS.filter((f) => f !== 'dispatcherTask'))
      expect(byName.get(`rsqlo-lambda-errors-${fid}`)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
      });
    expect(byName.get('rsqlo-lambda-errors-dispatcherTask')?.Metrics).toBeDefined();
    // The watchdog's RunOverdue lines, counted by a metric filter (infra/monitoring.test.ts).
    expect(byName.get('rsqlo-runs-overdue')).toMatchObject({ Namespace: 'rsqlo', MetricName: 'RunsOverdue' });
    const [, filter] = one('AWS::Logs::MetricFilter', (p) =>
      JSON.stringify(p.MetricTransformations).includes('RunsOverdue'),
    );
    expect(filter.FilterPattern).toBe('{ $.error_name = "RunOverdue" }');
    expect(filter.LogGroupName).toEqual({ Ref: lid(s, s.stack.functions.watchdog.logGroup) });
    const topic = ref(lid(s, s.stack.alerts.topic));
    for (const a of alarms()) expect(a.AlarmActions, a.AlarmName).toEqual([topic]);
  });

  it('has a dashboard', () => {
    const [, d] = one('AWS::CloudWatch::Dashboard');
    expect(d.DashboardName).toBe('rsqlo');
  });
});
