/**
 * The shipped scripts' source on AWS: S3 GetObject of `<keyPrefix><version>.json` in the stack's
 * assets bucket (the hosts' policy allows exactly the objects `<stack>-scripts-*.json`). A missing
 * object is final (ScriptVersionError: the version was never published, or removed since, e.g. by
 * `cdk gc`); anything else (throttling, network) is for the caller to wait on. The SDK retries
 * transient failures itself first.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type ScriptSource, ScriptVersionError } from './script-cache.js';

export function createS3ScriptSource(opts: {
  client: S3Client;
  bucket: string;
  keyPrefix: string;
}): ScriptSource {
  const key = (version: string) => `${opts.keyPrefix}${version}.json`;
  const describe = (version: string) => `s3://${opts.bucket}/${key(version)}`;
  return {
    describe,
    async get(version) {
      try {
        const r = await opts.client.send(new GetObjectCommand({ Bucket: opts.bucket, Key: key(version) }));
        if (!r.Body) throw new Error(`${describe(version)}: empty response`);
        return await r.Body.transformToByteArray();
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'NoSuchKey' || name === 'NotFound')
          throw new ScriptVersionError(`script version ${version} is not in ${describe(version)} (${name})`);
        throw err;
      }
    },
  };
}
