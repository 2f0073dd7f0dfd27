/**
 * The trigger index and the calendars deployed with the definitions: one config-table item each
 * (runtime/aws/dynamo-trigger.ts dependencyItems), written by a loader whose role may touch only
 * those keys; the whole app still passes cdk-nag and the CloudFormation validator.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { dependencyItems } from '../runtime/aws/dynamo-trigger.js';
import { buildApp } from './app.js';
import { dependencyItemUpdate } from './constructs/dependency-deployment.js';
import { lid, resources, roleStatements, synth, TEST_CONTEXT } from './testing.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-deps-stack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (rel: string, body: unknown) => {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), JSON.stringify(body));
};
const wf = (id: string, extra: Record<string, unknown> = {}) => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
  ...extra,
});
write(
  'a.json',
  wf('wf_a', {
    schedule: { expression: 'cron(0 6 ? * * *)', timezone: 'Europe/Berlin' },
    calendar: 'business',
  }),
);
write('b.json', wf('wf_b'));
write('down.json', wf('wf_down', { trigger: { after: ['wf_a', 'wf_b'], within_hours: 24 } }));
write('calendars/business.json', { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-12-25'] });

describe('DependencyDeployment', () => {
  const s = synth({ workflows_path: dir });

  it('writes the reverse index and the calendar as config-table items, removed when they leave the folder', () => {
    const items = resources(s.json, 'Custom::RsqloDependencyItem').map(([, r]) => {
      const p = r.Properties as { Create: unknown; Delete: unknown };
      const create = JSON.stringify(p.Create);
      return [
        create.match(/workflow_id\\":\{\\"S\\":\\"([a-z_:]+)/)?.[1],
        create.includes('updateItem'),
        JSON.stringify(p.Delete).includes('deleteItem'),
      ];
    });
    expect(items).toEqual([
      ['after:wf_a', true, true],
      ['after:wf_b', true, true],
      ['calendar:business', true, true],
    ]);
    // What they hold: the items computed from the folder (the same function the AWS-path tests use).
    expect(
      dependencyItems(
        s.workflows.map((w) => w.definition),
        [{ name: 'business', raw: { exclude: [] } }],
      ),
    ).toEqual([
      { workflow_id: 'after:wf_a', attributes: { dependents: ['wf_down'] } },
      { workflow_id: 'after:wf_b', attributes: { dependents: ['wf_down'] } },
      { workflow_id: 'calendar:business', attributes: { calendar: { exclude: [] } } },
    ]);
  });

  it("the loader's role writes only after:/calendar: items of the config table", () => {
    const roles = resources(s.json, 'AWS::IAM::Role').filter(([, r]) =>
      String((r.Properties as { Description?: string }).Description).includes('trigger index'),
    );
    expect(roles).toHaveLength(1);
    const statements = roleStatements(s.json, (roles[0] as [string, unknown])[0]);
    const items = statements.find((st) => st.Sid === 'WriteDependencyItems');
    expect(items?.Action).toEqual(['dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
    expect(items?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['after:*', 'calendar:*'] },
    });
    expect(JSON.stringify(items?.Resource)).toContain(lid(s, s.stack.tables.config));
  });

  it('the trigger function is the target of the WorkflowFinished rule', () => {
    const rules = resources(s.json, 'AWS::Events::Rule').filter(
      ([, r]) => (r.Properties as { Name?: string }).Name === 'rsqlo-trigger-workflow-finished',
    );
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0] as [string, { Properties: Record<string, unknown> }];
    expect(rule.Properties.EventPattern).toEqual({ source: ['rsqlo'], 'detail-type': ['WorkflowFinished'] });
    expect(JSON.stringify(rule.Properties.Targets)).toContain(lid(s, s.stack.functions.trigger.function));
  });

  it('passes cdk-nag AwsSolutions and the CloudFormation validator', () => {
    const built = buildApp(new App({ context: { ...TEST_CONTEXT, workflows_path: dir } }));
    const asm = built.app.synth();
    const report = path.join(asm.directory, 'validation-report.json');
    if (existsSync(report)) {
      const json = JSON.parse(readFileSync(report, 'utf8')) as {
        pluginReports: Array<{ violations?: unknown[] }>;
      };
      expect(json.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
    }
  });

  it('writes one attribute per item with SET', () => {
    expect(dependencyItemUpdate('t', { workflow_id: 'after:x', attributes: { dependents: ['y'] } })).toEqual({
      TableName: 't',
      Key: { workflow_id: { S: 'after:x' } },
      UpdateExpression: 'SET #a = :v',
      ExpressionAttributeNames: { '#a': 'dependents' },
      ExpressionAttributeValues: { ':v': { L: [{ S: 'y' }] } },
    });
  });
});
