/**
 * What the `--aws` commands rely on in the stack itself: every output they read exists and names
 * the right resource (runtime/aws/stack-outputs.ts STACK_OUTPUTS), and `definitions push` writes a
 * definition with the very UpdateItem the deploy's custom resource sends.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURE_WORKFLOWS, resources, synth } from '../../infra/testing.js';
import { definitionUpdate } from '../../runtime/aws/definition-update.js';
import { STACK_OUTPUTS } from '../../runtime/aws/stack-outputs.js';

describe('the stack the --aws commands read', () => {
  const s = synth();

  it('has every output the commands read, each naming the resource it says', () => {
    const outputs = s.json.Outputs ?? {};
    const ref = (name: string) => (outputs[name]?.Value as { Ref?: string } | undefined)?.Ref;
    const typeOf = (name: string) => s.json.Resources[ref(name) ?? '']?.Type;
    expect(Object.values(STACK_OUTPUTS).filter((o) => !(o in outputs))).toEqual([]);
    expect(typeOf(STACK_OUTPUTS.eventBus)).toBe('AWS::Events::EventBus');
    for (const table of ['configTable', 'workflowAuditTable', 'jobAuditTable'] as const)
      expect(typeOf(STACK_OUTPUTS[table]), table).toBe('AWS::DynamoDB::Table');
    expect(ref(STACK_OUTPUTS.configTable)).toBe(
      s.stack.getLogicalId(s.stack.tables.config.node.defaultChild as never),
    );
    expect(ref(STACK_OUTPUTS.workflowAuditTable)).toBe(
      s.stack.getLogicalId(s.stack.tables.workflowAudit.node.defaultChild as never),
    );
    expect(ref(STACK_OUTPUTS.jobAuditTable)).toBe(
      s.stack.getLogicalId(s.stack.tables.jobAudit.node.defaultChild as never),
    );
    expect(outputs[STACK_OUTPUTS.logGroup]?.Value).toBe('/ops/rsql-logs/');
  });

  it("writes a definition with the deploy's own UpdateItem (definitions push shares it)", () => {
    const file = path.join(FIXTURE_WORKFLOWS, 'blog.json');
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const loader = resources(s.json, 'Custom::RsqloWorkflowDefinition').find(([, r]) =>
      JSON.stringify(r.Properties?.Create).includes(`\\"S\\":\\"${raw.workflow_id}\\"`),
    );
    expect(loader).toBeDefined();
    // The custom resource's Create call as CloudFormation renders it (the table name is a Ref).
    const joined = loader?.[1].Properties?.Create as { 'Fn::Join': [string, unknown[]] } | string;
    const text =
      typeof joined === 'string'
        ? joined
        : joined['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : 'TABLE')).join(joined['Fn::Join'][0]);
    const create = JSON.parse(text) as { action: string; parameters: Record<string, unknown> };
    expect(create.action).toBe('updateItem');
    expect(create.parameters).toEqual(definitionUpdate('TABLE', raw));
  });
});
