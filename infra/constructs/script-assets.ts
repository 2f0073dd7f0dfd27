/**
 * Files the stack publishes to its assets bucket under a name it chooses, so what the hosts may read
 * is exactly named: the agent bundle (`<stack>-agent-<sha256>.mjs`, agent-install.ts) and the
 * workflows' scripts (`<stack>-scripts-<sha256>.json`, {@link ScriptAssets}). The SHA-256 of the
 * file is in its name: the content hash is the version, and a host checks it after download.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Aws, FileAssetPackaging, Stack, Stage } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ScriptBundle } from '../workflows.js';

/** Where a published file is: bucket (a token until deploy), key, and the object's ARN. */
export interface PublishedFile {
  bucketName: string;
  objectKey: string;
  /** `s3://bucket/key`. */
  s3Uri: string;
  objectArn: string;
}

/**
 * Publishes `bytes` as a file asset named `<name><ext>` (the asset's id in the manifest and its
 * object key, after the synthesizer's bucket prefix). The bytes are written into the cloud
 * assembly, as the CDK stages any file asset.
 */
export function publishFile(scope: Construct, name: string, ext: string, bytes: Buffer): PublishedFile {
  const stack = Stack.of(scope);
  const stage = Stage.of(scope);
  if (!stage) throw new Error(`${name}: the stack is not in an App (no cloud assembly to stage the file in)`);
  const file = `asset.${name}${ext}`;
  mkdirSync(stage.assetOutdir, { recursive: true });
  writeFileSync(path.join(stage.assetOutdir, file), bytes);
  const loc = stack.synthesizer.addFileAsset({
    sourceHash: name,
    fileName: file,
    packaging: FileAssetPackaging.FILE,
    displayName: name,
  });
  return {
    bucketName: loc.bucketName,
    objectKey: loc.objectKey,
    s3Uri: `s3://${loc.bucketName}/${loc.objectKey}`,
    objectArn: `arn:${Aws.PARTITION}:s3:::${loc.bucketName}/${loc.objectKey}`,
  };
}

export interface ScriptAssetsProps {
  /** Prefix of the object names (the stack name): `<prefix>-scripts-<version>.json`. */
  namePrefix: string;
  /** The packed scripts (infra/workflows.ts bundleScripts). */
  bundle: ScriptBundle;
}

/**
 * The scripts of the deployed workflows as a versioned asset: one object per version,
 * `<prefix>-scripts-<sha256>.json`, where the SHA-256 of the content is the version. A deploy that
 * changes a script publishes a new object and leaves the old ones, so a run started before the
 * deploy still finds its version (`cdk gc` may remove objects no template references any more:
 * then a restart, a new run, takes the current version). The starter records the current version
 * on each new run (its environment: RSQLO_SCRIPT_VERSION and RSQLO_SCRIPT_WORKFLOWS), the agents
 * fetch that version before the run's first job on each host (agent/script-cache.ts).
 */
export class ScriptAssets extends Construct {
  readonly version: string;
  readonly workflowIds: string[];
  readonly file: PublishedFile;
  /** The bucket, and the key of version V: `<keyPrefix><V>.json`. */
  readonly bucketName: string;
  readonly keyPrefix: string;
  /** Every version's object (`<bucket>/<keyPrefix>*.json`): what the hosts may read. */
  readonly versionsArn: string;

  constructor(scope: Construct, id: string, props: ScriptAssetsProps) {
    super(scope, id);
    const { bundle } = props;
    this.version = bundle.version;
    this.workflowIds = bundle.workflows.map((w) => w.workflowId);
    this.file = publishFile(this, `${props.namePrefix}-scripts-${bundle.version}`, '.json', bundle.bytes);
    const tail = `${bundle.version}.json`;
    if (!this.file.objectKey.endsWith(tail))
      throw new Error(`scripts asset: object key ${this.file.objectKey} does not end with ${tail}`);
    this.bucketName = this.file.bucketName;
    this.keyPrefix = this.file.objectKey.slice(0, -tail.length);
    this.versionsArn = `arn:${Aws.PARTITION}:s3:::${this.bucketName}/${this.keyPrefix}*.json`;
    const ids = this.workflowIds.join(',');
    // Lambda's environment holds 4 KB in all: the list of workflows must leave room for the rest.
    if (ids.length > 2048)
      throw new Error(
        `scripts asset: ${this.workflowIds.length} shipped workflows (${ids.length} characters of ids) are too many for the starter's environment (at most 2048 characters)`,
      );
  }
}
