/**
 * The synthesized stack checked with AWS's own validators (besides cdk-nag, the CloudFormation
 * validator and asl-validator that the synth and stack.test.ts run):
 *
 * - every resource against its CloudFormation resource schema from @aws-cdk/aws-service-spec
 *   (infra/resource-schema.ts): unknown property, wrong type, value outside the allowed ones,
 *   missing required property;
 * - every state machine definition with amazon-states-language-service, the validator behind the
 *   AWS Toolkit, which must have nothing to say.
 *
 * Each check is shown to bite on a deliberately broken resource or definition.
 */
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import { App, type CfnResource } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { wrapperDefinition } from '../runtime/aws/wrapper-definition.js';
import { buildApp } from './app.js';
import { aslDiagnostics } from './asl-service.js';
import { stateMachineDefinitions } from './check-template.js';
import { placeholder } from './constructs/job-wrapper.js';
import { ResourceSchemaChecker } from './resource-schema.js';
import { synth, TEST_CONTEXT } from './testing.js';

const checker = new ResourceSchemaChecker(loadAwsServiceSpecSync());
const s = synth();

describe('CloudFormation resource schemas (@aws-cdk/aws-service-spec)', () => {
  it('every resource of the synthesized stack conforms to its schema', () => {
    expect(Object.keys(s.json.Resources).length).toBeGreaterThan(50);
    expect(checker.checkTemplate(s.json)).toEqual([]);
  });

  it('bites: unknown property, wrong type, value not allowed, required property missing', () => {
    // A fresh, unsynthesized app: synth itself would refuse the broken resources.
    const built = buildApp(new App({ context: TEST_CONTEXT }));
    const queue = built.stack.jobQueue.queue.node.defaultChild as CfnResource;
    queue.addPropertyOverride('MessageRetentionPeriod', 'four days');
    queue.addPropertyOverride('NotAProperty', true);
    const rule = built.stack.alerts.rules[0]?.node.defaultChild as CfnResource;
    rule.addPropertyOverride('State', 'SOMETIMES');
    const table = built.stack.tables.config.node.defaultChild as CfnResource;
    table.addPropertyDeletionOverride('KeySchema');
    const render = built.stack as unknown as { _toCloudFormation(): unknown };
    const findings = checker.checkTemplate(built.stack.resolve(render._toCloudFormation()) as never);
    const ids = (construct: CfnResource) => built.stack.getLogicalId(construct);
    expect(findings).toEqual(
      expect.arrayContaining([
        {
          resource: ids(queue),
          path: 'Properties.MessageRetentionPeriod',
          message: 'must be a integer, got a string',
        },
        {
          resource: ids(queue),
          path: 'Properties.NotAProperty',
          message: expect.stringMatching(/^unknown property NotAProperty/),
        },
        {
          resource: ids(rule),
          path: 'Properties.State',
          message:
            '"SOMETIMES" is not one of DISABLED, ENABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS',
        },
        {
          resource: ids(table),
          path: 'Properties.KeySchema',
          message: 'required property KeySchema is missing',
        },
      ]),
    );
    expect(findings).toHaveLength(4);
  });

  it('bites inside nested property types and on unknown resource types', () => {
    const f = checker.checkResource('Fn', 'AWS::Lambda::Function', {
      Role: 'arn:aws:iam::123456789012:role/x',
      Code: { ZipFile: 'x', S3Bukket: 'b' },
      Architectures: [{ arch: 'arm64' }],
      Environment: { Variables: { A: { Nested: 'no' } } },
    });
    expect(f.map((x) => x.path)).toEqual([
      'Properties.Code.S3Bukket',
      'Properties.Architectures[0]',
      'Properties.Environment.Variables.A',
    ]);
    expect(checker.checkResource('X', 'AWS::Nope::Thing', {})).toEqual([
      { resource: 'X', path: '', message: 'AWS::Nope::Thing is not a CloudFormation resource type' },
    ]);
  });

  it("accepts the CDK's version-reporting resource (`cdk synth` adds it), and only its one property", () => {
    expect(
      checker.checkResource('CDKMetadata', 'AWS::CDK::Metadata', { Analytics: 'v2:deflate64:x' }),
    ).toEqual([]);
    expect(checker.checkResource('M', 'AWS::CDK::Metadata', { Analytics: 1, Extra: 'x' })).toEqual([
      { resource: 'M', path: 'Properties.Analytics', message: 'Analytics must be a string' },
      { resource: 'M', path: 'Properties.Extra', message: 'Extra is not a property of AWS::CDK::Metadata' },
    ]);
  });
});

describe('States Language service (amazon-states-language-service)', () => {
  const definitions = stateMachineDefinitions(s.json);

  it('has nothing to say about any state machine of the stack, as deployed', async () => {
    // The job wrapper (the run watchdog is a Scheduler schedule per run, no state machine).
    expect(definitions.length).toBe(1);
    for (const { id, definition } of definitions) expect(await aslDiagnostics(definition), id).toEqual([]);
  });

  it('has nothing to say with the substitutions filled in either', async () => {
    for (const { id, definition } of definitions) {
      const filled = definition
        .split(placeholder('Partition'))
        .join('aws-us-gov')
        .split(placeholder('DispatcherTaskFunctionArn'))
        .join('arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f')
        .split(placeholder('EventBusName'))
        .join('rsqlo')
        .split(placeholder('WorkflowAuditTable'))
        .join('rsqlo-workflow-audit');
      expect(await aslDiagnostics(filled), id).toEqual([]);
    }
  });

  it('bites: a transition to a missing state and an unreachable state are reported', async () => {
    const def = wrapperDefinition({ dispatcherFunctionArn: 'f', eventBusName: 'b', partition: 'aws' });
    const broken = structuredClone(def) as { States: Record<string, Record<string, unknown>> };
    (broken.States.AddMissingCause as Record<string, unknown>).Next = 'NoSuchState';
    broken.States.Orphan = { Type: 'Succeed' };
    const messages = (await aslDiagnostics(JSON.stringify(broken, null, 2))).map((d) => d.message);
    expect(
      messages.some((m) => /must be the name of an existing state/.test(m)),
      messages.join('\n'),
    ).toBe(true);
    expect(
      messages.some((m) => /cannot be reached/i.test(m)),
      messages.join('\n'),
    ).toBe(true);
  });
});
