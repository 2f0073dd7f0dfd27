/**
 * Helpers for the infra tests: synthesize the app the way `cdk synth` does (same `buildApp`, same
 * checks) but without bundling (`aws:cdk:bundling-stacks: []`), so a test file synthesizes in a few
 * seconds and needs neither Docker nor AWS credentials.
 */
import { fileURLToPath } from 'node:url';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { type BuiltApp, buildApp } from './app.js';

export const FIXTURE_WORKFLOWS = fileURLToPath(new URL('./test-fixtures/workflows/', import.meta.url));

/** Context of the test app: ids and a tag, an email, a subscriber account, the fixture workflows. */
export const TEST_CONTEXT = {
  'aws:cdk:bundling-stacks': [],
  stack_name: 'rsqlo',
  ec2_instance_id: ['i-0123456789abcdef0', 'i-0fedcba9876543210'],
  agent_instance_tag: 'rsqlo-agent=true',
  redshift_secret_id: 'rsqlo/redshift',
  rsql_script_path: '/opt/rsqlo/scripts',
  rsql_log_path: '/var/log/rsqlo',
  alert_email: 'data-ops@example.com',
  workflows_path: FIXTURE_WORKFLOWS,
  allow_subscribe_account_ids: ['111122223333'],
} as const;

export interface Synthesized extends BuiltApp {
  template: Template;
  json: CfnTemplate;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: Record<string, unknown>;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

/** Synthesizes the app with TEST_CONTEXT plus `context` (an `undefined` value removes a key). */
export function synth(context: Record<string, unknown> = {}): Synthesized {
  const merged: Record<string, unknown> = { ...TEST_CONTEXT };
  for (const [k, v] of Object.entries(context)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  const built = buildApp(new App({ context: merged }));
  const template = Template.fromStack(built.stack);
  return { ...built, template, json: template.toJSON() as CfnTemplate };
}

/** Resources of a type, by logical id. */
export function resources(t: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

/** The logical id of a construct's CloudFormation resource (its default child). */
export function lid(built: BuiltApp, construct: IConstruct): string {
  const el = (construct.node.defaultChild ?? construct) as CfnElement;
  return built.stack.getLogicalId(el);
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

/** Every statement of the policies attached to a role (inline AWS::IAM::Policy resources). */
export function roleStatements(t: CfnTemplate, roleLogicalId: string): Statement[] {
  const out: Statement[] = [];
  for (const [, r] of resources(t, 'AWS::IAM::Policy')) {
    const roles = (r.Properties?.Roles ?? []) as Array<{ Ref?: string }>;
    if (!roles.some((x) => x.Ref === roleLogicalId)) continue;
    const doc = r.Properties?.PolicyDocument as { Statement: Statement[] };
    out.push(...doc.Statement);
  }
  return out;
}

/** A statement's actions as a list. */
export function actionsOf(s: Statement): string[] {
  return Array.isArray(s.Action) ? s.Action : [s.Action];
}

/** A statement's resources as a list. */
export function resourcesOf(s: Statement): unknown[] {
  return Array.isArray(s.Resource) ? s.Resource : [s.Resource];
}

/** `{ "Fn::GetAtt": [id, attr] }` / `{ Ref: id }` helpers for comparisons. */
export const getAtt = (id: string, attr: string) => ({ 'Fn::GetAtt': [id, attr] });
export const ref = (id: string) => ({ Ref: id });
