/**
 * The SSM simulator checks parameters where AWS does: the service at SendCommand (minChars /
 * maxChars), then the SSM Agent on the host with Go's regexp (RE2) before it runs anything. The
 * agent's rule, from aws/amazon-ssm-agent (allowedregexparamvalidator.go):
 *
 *   validParamValue, err := regexp.Compile(parameter.AllowedPattern)
 *   if err != nil {
 *       return fmt.Errorf("encountered error while compiling allowed pattern - internal error: %v", err)
 *   }
 *   ... if !validParamValue.MatchString(input) { return fmt.Errorf(errorString, input, ...) }
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ssmDocumentContent } from '../../../runtime/aws/ssm-document.js';
import { agentParameterErrors, type SimHost, type SsmDocument, SsmSimulator } from './ssm.js';

const dirs: string[] = [];
const sims: SsmSimulator[] = [];
afterEach(() => {
  for (const s of sims.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(
  makeDocument: (agentBin: string) => SsmDocument = (bin) => ssmDocumentContent({ agentBin: bin }),
) {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-ssm-sim-'));
  dirs.push(dir);
  const agentBin = path.join(dir, 'fake-agent');
  // Stands in for `rsqlo-agent submit`: proves the step ran and what it was given.
  writeFileSync(
    agentBin,
    ['#!/bin/bash', 'echo "ran $1 with $(printf %s "$SSM_job" | wc -c) characters"', ''].join('\n'),
  );
  chmodSync(agentBin, 0o755);
  mkdirSync(path.join(dir, 'host'));
  const host: SimHost = {
    instanceId: 'i-0aaaaaaaaaaaaaaa1',
    online: true,
    tags: {},
    dir: path.join(dir, 'host'),
    configFile: path.join(dir, 'agent.json'),
  };
  const sim = new SsmSimulator({
    documentName: 'rsqlo-submit-job',
    document: makeDocument(agentBin),
    agentBin,
    hosts: () => [host],
    mode: 'shell',
  });
  sims.push(sim);
  return { sim, agentBin };
}

async function settled(sim: SsmSimulator) {
  for (let i = 0; i < 200 && (sim.pending() > 0 || sim.runs.length === 0); i++)
    await new Promise((r) => setTimeout(r, 25));
  return sim.runs;
}

const send = (sim: SsmSimulator, job: string) =>
  sim.sendCommand({
    DocumentName: 'rsqlo-submit-job',
    InstanceIds: ['i-0aaaaaaaaaaaaaaa1'],
    Parameters: { job: [job] },
    TimeoutSeconds: 600,
  });

describe('SSM simulator: parameters checked as the service and the agent do', () => {
  it('runs the deployed document for a base64 job', async () => {
    const { sim } = setup();
    send(sim, Buffer.from('{"hello":"world"}').toString('base64'));
    const [run] = await settled(sim);
    expect(run?.exitCode).toBe(0);
    expect(run?.output).toContain('ran submit with 24 characters');
    expect(sim.violations).toEqual([]);
  });

  it('fails the command on the host, without running it, when the pattern does not compile under RE2', async () => {
    const { sim } = setup((agentBin) => {
      const doc = ssmDocumentContent({ agentBin });
      // The document as it was: a repeat count Go's regexp refuses (JavaScript's RegExp accepts it).
      (doc.parameters.job as { allowedPattern: string }).allowedPattern = '^[A-Za-z0-9+/]{16,32000}={0,2}$';
      return doc;
    });
    // The service accepts the command…
    expect(send(sim, Buffer.from('{"hello":"world"}').toString('base64')).Command.Status).toBe('Pending');
    // …and the agent refuses it on the host: the step never runs.
    const [run] = await settled(sim);
    expect(run?.exitCode).toBe(1);
    expect(run?.output).toContain('encountered error while compiling allowed pattern');
    expect(run?.output).toContain('invalid repeat count');
    expect(run?.output).not.toContain('ran submit');
    expect(sim.violations).toHaveLength(1);
  });

  it('the service refuses a value over maxChars at SendCommand', () => {
    const { sim } = setup();
    expect(() => send(sim, 'A'.repeat(32_004))).toThrow(/outside minChars\/maxChars/);
    expect(sim.commands).toHaveLength(0);
  });

  it("the agent's check is Go's MatchString: unanchored, so an unanchored pattern matches inside a value", () => {
    const doc = { parameters: { p: { allowedPattern: '[0-9]+' }, q: { allowedPattern: '^[0-9]+$' } } };
    expect(agentParameterErrors(doc, { p: 'abc123', q: '123' })).toEqual([]);
    expect(agentParameterErrors(doc, { p: 'abc', q: 'abc123' })).toHaveLength(2);
  });
});
