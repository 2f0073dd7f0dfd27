import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  InvalidInstanceId,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobCommand } from '../../contracts/jobs.js';
import { NoAgentAvailableError } from '../../services/errors.js';
import { FakeClock } from '../../services/testing/in-memory.js';
import {
  agentIndex,
  createSsmAgentFleet,
  encodeJobCommand,
  FleetConfigurationError,
  JobCommandTooLargeError,
  parseAgentTag,
} from './ssm-agent-fleet.js';
import { JOB_ALLOWED_PATTERN, JOB_MAX_CHARS } from './ssm-document.js';

const ssm = mockClient(SSMClient);
afterEach(() => ssm.reset());

const command: JobCommand = {
  version: 1,
  task_token: 'AQCEAAAAKgAAAAMAAAAAAAAAA'.repeat(20),
  job_run_name: 'r1--1-2--a1',
  workflow_id: 'wf',
  workflow_execution_id: 'r1',
  job_key: '1.2',
  job_name: 'b.sh',
  stage: 1,
  attempt: 1,
  script: 'b.sh',
  args: ['--day', '2024-01-01'],
  timeout_seconds: 60,
  heartbeat_seconds: 30,
  parameters: { REGION: 'eu' },
};

const online = (...ids: string[]) => ids.map((InstanceId) => ({ InstanceId, PingStatus: 'Online' as const }));
const describes = () => ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input);

function fleet(opts: Partial<Parameters<typeof createSsmAgentFleet>[0]> = {}) {
  return createSsmAgentFleet({
    client: new SSMClient({ region: 'eu-west-1' }),
    documentName: 'rsqlo-run-job',
    instanceIds: ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'],
    retry: { sleep: async () => {} },
    ...opts,
  });
}

describe('SSM agent fleet: pick', () => {
  it('asks for the configured instances that are Online, and picks one by the job run name', async () => {
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolves({ InstanceInformationList: online('i-0aaaaaaaaaaaaaaa2', 'i-0aaaaaaaaaaaaaaa1') });
    const f = fleet();
    const picked = await f.pick('r1--1-2--a1');
    const sorted = ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'];
    expect(picked).toEqual({ instanceId: sorted[agentIndex('r1--1-2--a1', 2)] });
    expect(describes()).toEqual([
      {
        Filters: [
          { Key: 'InstanceIds', Values: ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'] },
          { Key: 'PingStatus', Values: ['Online'] },
        ],
        MaxResults: 50,
        NextToken: undefined,
      },
    ]);
  });

  it('spreads job runs over the online hosts and picks the same one for the same name', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[agentIndex(`r${i}--1-1--a1`, 3)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(agentIndex('x', 7)).toBe(agentIndex('x', 7));
  });

  it('pages through the answer, splits more than 100 ids, and adds the tagged hosts', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => `i-0${String(i).padStart(16, '0')}`);
    ssm.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => {
      const f = input.Filters?.[0];
      if (f?.Key === 'tag:role') return { InstanceInformationList: online('i-0tagged000000001') };
      if (!input.NextToken)
        return { InstanceInformationList: online(f?.Values?.[0] ?? ''), NextToken: 'more' };
      return {
        InstanceInformationList: [
          { InstanceId: f?.Values?.[1], PingStatus: 'ConnectionLost' },
          ...online(f?.Values?.[2] ?? ''),
        ],
      };
    });
    const f = fleet({ instanceIds: ids, tag: parseAgentTag('role=rsqlo-agent') });
    await f.pick('r1--1-1--a1');
    const calls = describes();
    expect(calls.map((c) => [c.Filters?.[0]?.Key, c.Filters?.[0]?.Values?.length, c.NextToken])).toEqual([
      ['InstanceIds', 100, undefined],
      ['InstanceIds', 100, 'more'],
      ['InstanceIds', 50, undefined],
      ['InstanceIds', 50, 'more'],
      ['tag:role', 1, undefined],
    ]);
    expect(calls[4]?.Filters?.[0]?.Values).toEqual(['rsqlo-agent']);
  });

  it('reuses the online list for a while, and asks again when nobody was online', async () => {
    const clock = new FakeClock();
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolves({ InstanceInformationList: online('i-0aaaaaaaaaaaaaaa1') });
    const f = fleet({ clock, cacheSeconds: 15 });
    await f.pick('a');
    await f.pick('b');
    expect(describes()).toHaveLength(1);
    clock.advance(15_000);
    await f.pick('c');
    expect(describes()).toHaveLength(2);
    ssm.reset();
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    const empty = fleet({ clock });
    await expect(empty.pick('a')).rejects.toBeInstanceOf(NoAgentAvailableError);
    await expect(empty.pick('a')).rejects.toThrow(
      /no rsqlo agent is online \(instances i-0aaaaaaaaaaaaaaa1, i-0aaaaaaaaaaaaaaa2\)/,
    );
    expect(describes()).toHaveLength(2);
  });

  it('retries a throttled describe', async () => {
    ssm
      .on(DescribeInstanceInformationCommand)
      .rejectsOnce(Object.assign(new Error('rate'), { name: 'ThrottlingException' }))
      .resolves({ InstanceInformationList: online('i-0aaaaaaaaaaaaaaa1') });
    expect(await fleet().pick('a')).toEqual({ instanceId: 'i-0aaaaaaaaaaaaaaa1' });
  });

  it('needs instance ids or a tag', () => {
    expect(() => fleet({ instanceIds: [] })).toThrow(FleetConfigurationError);
    expect(() => parseAgentTag('novalue=')).toThrow(FleetConfigurationError);
    expect(parseAgentTag('a=b=c')).toEqual({ key: 'a', value: 'b=c' });
  });
});

describe('SSM agent fleet: send', () => {
  it('sends the document to exactly that instance, the job as base64 JSON, one at a time', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    expect(await fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa2' }, command)).toEqual({
      commandId: 'cmd-1',
    });
    const input = ssm.commandCalls(SendCommandCommand)[0]?.args[0].input;
    expect(input).toEqual({
      DocumentName: 'rsqlo-run-job',
      InstanceIds: ['i-0aaaaaaaaaaaaaaa2'],
      Parameters: { job: [encodeJobCommand(command)] },
      MaxConcurrency: '1',
      MaxErrors: '1',
      TimeoutSeconds: 600,
      Comment: 'rsqlo r1--1-2--a1',
    });
    const job = input?.Parameters?.job?.[0] ?? '';
    expect(new RegExp(JOB_ALLOWED_PATTERN).test(job)).toBe(true);
    expect(JSON.parse(Buffer.from(job, 'base64').toString('utf8'))).toEqual(command);
  });

  it('refuses a command the document cannot take, and an invalid one, without sending', async () => {
    const huge = { ...command, parameters: { BIG: 'x'.repeat(30_000) } };
    await expect(fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, huge)).rejects.toBeInstanceOf(
      JobCommandTooLargeError,
    );
    await expect(
      fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, { ...command, script: '../etc/passwd' }),
    ).rejects.toThrow(/escapes the script root/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it("sends a command of exactly the document's maxChars and refuses one a character longer", async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    // One parameter sized so the JSON is exactly 3/4 of `chars` bytes (base64 without padding).
    const base = Buffer.byteLength(JSON.stringify({ ...command, parameters: { BIG: '' } }));
    const sized = (chars: number) => {
      const c = { ...command, parameters: { BIG: 'x'.repeat((chars / 4) * 3 - base) } };
      expect(encodeJobCommand(c)).toHaveLength(chars);
      return c;
    };
    await fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, sized(JOB_MAX_CHARS));
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    await expect(
      fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, sized(JOB_MAX_CHARS + 4)),
    ).rejects.toThrow(
      /the encoded command is 32004 characters; the SSM document's job parameter takes at most 32000/,
    );
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('retries throttling only: a failed send may have created the command', async () => {
    ssm
      .on(SendCommandCommand)
      .rejectsOnce(Object.assign(new Error('rate'), { name: 'ThrottlingException' }))
      .resolves({ Command: { CommandId: 'cmd-2' } });
    expect(await fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, command)).toEqual({
      commandId: 'cmd-2',
    });
    ssm.reset();
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError', $fault: 'server' }));
    await expect(fleet().send({ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, command)).rejects.toThrow('boom');
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('turns a host that went away into NoAgentAvailableError and forgets the online list', async () => {
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolves({ InstanceInformationList: online('i-0aaaaaaaaaaaaaaa1') });
    ssm.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'not connected', $metadata: {} }));
    const f = fleet();
    const agent = await f.pick('a');
    await expect(f.send(agent, command)).rejects.toBeInstanceOf(NoAgentAvailableError);
    await f.pick('a');
    expect(describes()).toHaveLength(2);
  });
});
