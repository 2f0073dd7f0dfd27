/**
 * Files the stack publishes to its assets bucket under a name it chooses, so what the hosts may read
 * is exactly named: the agent bundle (`<stack>-agent-<sha256>.mjs`, agent-install.ts) and the
 * workflows' scripts (`<stack>-scripts-<sha256>.json`, {@link ScriptAssets}). The SHA-256 of the
 * file is in its name: the content hash is the version, and a host checks it after download.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Aws, FileAssetPackaging, Stack, Stage } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

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
