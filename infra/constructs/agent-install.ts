import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Aws, Fn, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { type AgentBundle, buildAgentBundle } from '../agent-bundle.js';
import { type PublishedFile, publishFile } from './script-assets.js';

/** The user the daemon and the jobs run as unless told otherwise (created by the install step). */
export const DEFAULT_RUN_USER = 'rsqlo';

/** Base64 characters only (the config and the unit travel base64-encoded). No counted repeat (RE2). */
const BASE64_PATTERN = '^[A-Za-z0-9+/]+={0,2}$';

/**
 * The install document's parameters: each checked by the SSM Agent on the host against its
 * allowedPattern (Go's RE2) and handed to the shell as an environment variable
 * (interpolationType ENV_VAR), never spliced into shell text.
 */
export const INSTALL_PARAMETERS = {
  agentUri: {
    env: 'RSQLO_AGENT_URI',
    description: 's3://bucket/key of the agent bundle (the stack asset)',
    allowedPattern: '^s3://[a-z0-9][a-z0-9.-]+[a-z0-9]/[A-Za-z0-9!_.*()/-]+$',
  },
  agentSha256: {
    env: 'RSQLO_AGENT_SHA256',
    description: 'SHA-256 of the bundle; a download that differs is refused',
    allowedPattern: '^[0-9a-f]{64}$',
  },
  config: {
    env: 'RSQLO_CONFIG_B64',
    description: 'The agent configuration (/etc/rsqlo/agent.json), base64',
    allowedPattern: BASE64_PATTERN,
  },
  runUser: {
    env: 'RSQLO_RUN_USER',
    description: 'User the daemon and the jobs run as (created when missing)',
    allowedPattern: '^[a-z_][a-z0-9_-]{0,31}$',
  },
  region: {
    env: 'RSQLO_REGION',
    description: "The bundle bucket's region",
    allowedPattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$',
  },
} as const;
export type InstallParameter = keyof typeof INSTALL_PARAMETERS;

/**
 * The install document's shell steps: the parameters as environment variables (SSM sets
 * `SSM_<name>`; older SSM Agents without ENV_VAR interpolation get the value substituted, already
 * checked by its allowedPattern), the systemd unit, then agent/install/install-bundle.sh.
 */
export function installCommands(projectRoot: string): string[] {
  const script = readFileSync(path.join(projectRoot, 'agent/install/install-bundle.sh'), 'utf8');
  const unit = readFileSync(path.join(projectRoot, 'agent/install/rsqlo-agent.service'));
  const lines = ['set -eu'];
  for (const [name, p] of Object.entries(INSTALL_PARAMETERS)) {
    lines.push(`if [ -z "\${SSM_${name}+x}" ]; then SSM_${name}='{{ ${name} }}'; fi`);
    lines.push(`export ${p.env}="$SSM_${name}"`);
  }
  lines.push(`export RSQLO_UNIT_B64='${unit.toString('base64')}'`);
  // The script's own lines, comments dropped (a document holds at most 64 KB).
  for (const l of script.split('\n')) if (l.trim() !== '' && !/^\s*#/.test(l)) lines.push(l);
  return lines;
}

/** The install document's content (schema 2.2, one aws:runShellScript step). */
export function installDocumentContent(projectRoot: string) {
  return {
    schemaVersion: '2.2',
    description:
      'rsqlo: install or upgrade the rsqlo agent from its one-file bundle (Node.js 20+, systemd unit rsqlo-agent)',
    parameters: Object.fromEntries(
      Object.entries(INSTALL_PARAMETERS).map(([name, p]) => [
        name,
        {
          type: 'String',
          description: p.description,
          allowedPattern: p.allowedPattern,
          interpolationType: 'ENV_VAR',
          ...(name === 'runUser' ? { default: DEFAULT_RUN_USER } : {}),
        },
      ]),
    ),
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'installAgent',
        inputs: { timeoutSeconds: '900', runCommand: installCommands(projectRoot) },
      },
    ],
  };
}

export interface AgentInstallProps {
  /** The repository root (agent sources, agent/install/*). */
  projectRoot: string;
  /** Prefix of the document, association and asset names. */
  namePrefix: string;
  /** Instances by id (an association targets them). */
  instanceIds: readonly string[];
  /** Instances by tag (an association targets every instance carrying it, now and later). */
  instanceTag: { key: string; value: string } | undefined;
  /** The agent configuration the hosts get (/etc/rsqlo/agent.json); may hold tokens. */
  agentConfig: Record<string, unknown>;
  /** User the daemon and the jobs run as. Default `rsqlo`. */
  runUser?: string;
  /**
   * The bundle. Default: built now with esbuild (agent/bundle-entry.ts), unless the stack skips
   * bundling (`aws:cdk:bundling-stacks`, as the unit tests do): then a placeholder that says so.
   */
  bundle?: AgentBundle;
}

/**
 * The agent installed and upgraded by the stack: its one-file bundle published as an asset
 * (`<prefix>-agent-<sha256>.mjs`), a Command document that downloads it, checks its SHA-256 and
 * installs it with its systemd unit and config (agent/install/install-bundle.sh), and State
 * Manager associations that run the document on the agent hosts — by tag (every instance that
 * carries it, picked up at the latest at the association's next run) and/or by instance id, the same targets the
 * dispatcher sends jobs to (the hosts' policy must allow s3:GetObject on {@link bundle}'s
 * `objectArn`: the stack grants it). An association runs when created and again whenever its parameters
 * change, so a redeploy with a new agent (new hash) or config upgrades every host.
 */
export class AgentInstall extends Construct {
  readonly bundle: PublishedFile;
  readonly sha256: string;
  readonly document: ssm.CfnDocument;
  readonly associations: ssm.CfnAssociation[] = [];

  constructor(scope: Construct, id: string, props: AgentInstallProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const bundle =
      props.bundle ??
      (stack.bundlingRequired
        ? buildAgentBundle(props.projectRoot)
        : placeholderBundle('bundling skipped for this synth (aws:cdk:bundling-stacks)'));
    this.sha256 = bundle.sha256;
    this.bundle = publishFile(this, `${props.namePrefix}-agent-${bundle.sha256}`, '.mjs', bundle.code);
    const documentName = `${props.namePrefix}-install-agent`;
    this.document = new ssm.CfnDocument(this, 'Document', {
      name: documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      targetType: '/AWS::EC2::Instance',
      updateMethod: 'NewVersion',
      content: installDocumentContent(props.projectRoot),
    });
    const parameters: Record<InstallParameter, string[]> = {
      agentUri: [this.bundle.s3Uri],
      agentSha256: [bundle.sha256],
      config: [Fn.base64(stack.toJsonString(props.agentConfig))],
      runUser: [props.runUser ?? DEFAULT_RUN_USER],
      region: [Aws.REGION],
    };
    const targets: Array<{ id: string; key: string; values: string[] }> = [];
    if (props.instanceTag)
      targets.push({ id: 'ByTag', key: `tag:${props.instanceTag.key}`, values: [props.instanceTag.value] });
    if (props.instanceIds.length)
      targets.push({ id: 'ByInstanceId', key: 'InstanceIds', values: [...props.instanceIds] });
    for (const t of targets) {
      const a = new ssm.CfnAssociation(this, t.id, {
        // The document's Ref (its name): the association is created after it.
        name: this.document.ref,
        // The document is updated as a new version (updateMethod NewVersion): run the newest.
        documentVersion: '$LATEST',
        associationName: `${props.namePrefix}-install-agent-${t.id === 'ByTag' ? 'tagged' : 'listed'}`,
        targets: [{ key: t.key, values: t.values }],
        parameters,
        // Applied at once when created or updated (a redeploy with a new bundle or config), and
        // again every 30 minutes: instances tagged later get the agent, and a host that lost it is
        // repaired. A host already as it should be is left alone (the daemon keeps running).
        scheduleExpression: 'rate(30 minutes)',
        applyOnlyAtCronInterval: false,
        maxErrors: '10%',
        maxConcurrency: '50%',
        complianceSeverity: 'HIGH',
      });
      this.associations.push(a);
    }
  }
}

/** A bundle that only says why it is not the agent (never deployed: a synth that skips bundling). */
export function placeholderBundle(why: string): AgentBundle {
  const code = Buffer.from(
    `#!/usr/bin/env node\nprocess.stderr.write(${JSON.stringify(`rsqlo-agent placeholder: ${why}\n`)});\nprocess.exit(1);\n`,
  );
  return { code, sha256: createHash('sha256').update(code).digest('hex') };
}
