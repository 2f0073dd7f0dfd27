import { describe, expect, it } from 'vitest';
import { DEFAULT_TABLE_PREFIX } from '../runtime/aws/tables.js';
import { ContextError, parseContext } from './context.js';

const lookup = (ctx: Record<string, unknown>) => (k: string) => ctx[k];

const MINIMAL = {
  ec2_instance_id: 'i-0123456789abcdef0',
  redshift_secret_id: 'blog-secret',
  rsql_script_path: '/home/ec2-user/blog_test/rsql_scripts/',
  rsql_log_path: '/home/ec2-user/blog_test/logs/',
};

function problem(ctx: Record<string, unknown>): string {
  try {
    parseContext(lookup(ctx));
  } catch (err) {
    expect(err).toBeInstanceOf(ContextError);
    return (err as Error).message;
  }
  throw new Error('expected a ContextError');
}

describe('parseContext', () => {
  it("accepts the seed's cdk.json environment block unchanged (rsql_script_wrapper is noted as unused)", () => {
    const c = parseContext(
      lookup({
        environment: {
          ...MINIMAL,
          rsql_script_wrapper: '/home/ec2-user/blog_test/instance_code/',
        },
      }),
    );
    expect(c.agentInstanceIds).toEqual(['i-0123456789abcdef0']);
    expect(c.redshiftSecretId).toBe('blog-secret');
    expect(c.rsqlScriptPath).toBe('/home/ec2-user/blog_test/rsql_scripts/');
    expect(c.rsqlLogPath).toBe('/home/ec2-user/blog_test/logs/');
    expect(c.ignored).toEqual(['rsql_script_wrapper']);
  });

  it('applies the defaults', () => {
    const c = parseContext(lookup(MINIMAL));
    expect(c).toMatchObject({
      stackName: 'rsqlo',
      tablePrefix: DEFAULT_TABLE_PREFIX,
      logRetentionDays: 90,
      jobLogGroup: '/ops/rsql-logs/',
      allowSubscribeAccountIds: [],
      alertEmail: undefined,
      workflowsPath: undefined,
      agentInstanceTag: undefined,
      ignored: [],
    });
  });

  it('takes instance ids as a list, a JSON list or a comma-separated string (-c key=a,b), without duplicates', () => {
    const ids = ['i-0123456789abcdef0', 'i-0fedcba9876543210'];
    for (const v of [ids, JSON.stringify(ids), ids.join(','), `${ids.join(', ')},${ids[0]}`])
      expect(parseContext(lookup({ ...MINIMAL, ec2_instance_id: v })).agentInstanceIds).toEqual(ids);
  });

  it('takes an agent tag instead of instance ids', () => {
    const { ec2_instance_id: _, ...rest } = MINIMAL;
    const c = parseContext(lookup({ ...rest, agent_instance_tag: 'rsqlo-agent=true' }));
    expect(c.agentInstanceIds).toEqual([]);
    expect(c.agentInstanceTag).toEqual({ key: 'rsqlo-agent', value: 'true' });
  });

  it("names the key of a placeholder instance id (the seed's i-xxxx)", () => {
    const msg = problem({ ...MINIMAL, ec2_instance_id: 'i-xxxx' });
    expect(msg).toContain('context "ec2_instance_id"');
    expect(msg).toContain('"i-xxxx" is not an EC2 instance id');
  });

  it('requires instance ids or a tag, saying both keys', () => {
    const { ec2_instance_id: _, ...rest } = MINIMAL;
    const msg = problem(rest);
    expect(msg).toContain('context "ec2_instance_id"');
    expect(msg).toContain('agent_instance_tag');
  });

  it('reports every problem at once, each with its key', () => {
    const msg = problem({
      ec2_instance_id: 'i-0123456789abcdef0',
      rsql_script_path: 'relative/scripts',
      rsql_log_path: '/logs',
      alert_email: 'not-an-email',
      agent_instance_tag: 'no-equals-sign',
      allow_subscribe_account_ids: '1234',
      log_retention_days: 42,
      table_prefix: 'bad prefix!',
      job_log_group: 'no spaces allowed',
    });
    expect(msg).toContain('context "redshift_secret_id": is required');
    expect(msg).toContain('context "rsql_script_path": must be an absolute path');
    expect(msg).toContain('context "alert_email": must be an email address');
    expect(msg).toContain('context "agent_instance_tag": must be "key=value"');
    expect(msg).toContain('context "allow_subscribe_account_ids": "1234" is not a 12-digit AWS account id');
    expect(msg).toContain(
      'context "log_retention_days": must be one of the CloudWatch Logs retention periods',
    );
    expect(msg).toContain('context "table_prefix"');
    expect(msg).toContain('context "job_log_group": must be a CloudWatch Logs group name');
  });

  it('refuses reserved tag keys, unknown seed keys and conflicting values', () => {
    expect(problem({ ...MINIMAL, agent_instance_tag: 'aws:foo=bar' })).toContain('reserved');
    expect(problem({ environment: { ...MINIMAL, rsql_scripts: '/x' } })).toContain(
      'context "environment.rsql_scripts": unknown parameter',
    );
    expect(problem({ ...MINIMAL, environment: { redshift_secret_id: 'other-secret' } })).toContain(
      'context "redshift_secret_id": given both at the top level and in "environment"',
    );
  });

  it('accepts a secret ARN, string numbers for the retention and account ids as a list', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rsqlo/redshift-AbCdEf';
    const c = parseContext(
      lookup({
        ...MINIMAL,
        redshift_secret_id: arn,
        log_retention_days: '30',
        allow_subscribe_account_ids: '111122223333,444455556666',
      }),
    );
    expect(c.redshiftSecretId).toBe(arn);
    expect(c.logRetentionDays).toBe(30);
    expect(c.allowSubscribeAccountIds).toEqual(['111122223333', '444455556666']);
  });
});
