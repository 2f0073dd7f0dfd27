/**
 * Deploying again after `cdk destroy`: the stack retains its DynamoDB tables and the job log group
 * (audit history outlives the stack), so a second deploy with the same names meets resources that
 * already exist. Two ways through, both checked here (infra/DEPLOY.md, "Redeploy after destroy"):
 *
 * - adopt them: `cdk deploy --import-existing-resources`. CloudFormation's rules for importing a
 *   resource automatically ("Import AWS resources into a CloudFormation stack automatically"):
 *   "The resource must have a static custom name defined in your template. Dynamic names (using
 *   !Ref or other functions) are not currently supported." / "The resource must have a
 *   DeletionPolicy of Retain or RetainExceptOnCreate." / "The primary ID for the resource type must
 *   be in the template."
 * - start beside them: the context options `table_prefix` and `job_log_group` give every retained
 *   resource a new name.
 */
import { describe, expect, it } from 'vitest';
import { resources, synth } from './testing.js';

/** The property holding each retained type's primary identifier (its physical name). */
const NAME_PROPERTY: Record<string, string> = {
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::Logs::LogGroup': 'LogGroupName',
};

const DEFAULT = synth();
const RENAMED = synth({ table_prefix: 'rsqlo-v2', job_log_group: '/ops/rsql-logs-v2/' });

function retained(which: 'default' | 'renamed' = 'default') {
  const { json } = which === 'default' ? DEFAULT : RENAMED;
  return Object.entries(json.Resources)
    .filter(([, r]) => r.DeletionPolicy === 'Retain' || r.DeletionPolicy === 'RetainExceptOnCreate')
    .map(([id, r]) => ({ id, type: r.Type, name: r.Properties?.[NAME_PROPERTY[r.Type] ?? ''], all: r }));
}

describe('redeploy after cdk destroy', () => {
  it('every retained resource can be adopted by --import-existing-resources: a static custom name, Retain', () => {
    const kept = retained();
    expect(kept.map((r) => r.type).sort()).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::DynamoDB::Table',
      'AWS::DynamoDB::Table',
      'AWS::KMS::Key',
      'AWS::Logs::LogGroup',
    ]);
    for (const r of kept) {
      if (r.type === 'AWS::KMS::Key') continue; // no name: a new key never collides with a kept one
      expect(typeof r.name, `${r.id}: a static name, not a token`).toBe('string');
      expect(r.all.UpdateReplacePolicy, r.id).toBe('Retain');
    }
  });

  it('table_prefix and job_log_group rename every retained named resource (a fresh start beside the old)', () => {
    const before = retained().filter((r) => r.name !== undefined);
    const after = retained('renamed').filter((r) => r.name !== undefined);
    expect(after).toHaveLength(before.length);
    const old = new Set(before.map((r) => r.name));
    for (const r of after) expect(old.has(r.name), `${r.id} keeps ${String(r.name)}`).toBe(false);
  });

  it("the retained KMS key (the alert topic's) has no custom name, so a redeploy makes a new one", () => {
    const keys = resources(DEFAULT.json, 'AWS::KMS::Key');
    expect(keys).toHaveLength(1);
    const key = keys[0]?.[1];
    expect(key?.Properties?.KeyName ?? key?.Properties?.AliasName).toBeUndefined();
  });
});
