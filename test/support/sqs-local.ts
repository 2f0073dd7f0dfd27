/**
 * The fauxqs SQS emulator for a test file: one server on a free port, one client, one queue. The
 * SDK sends to the queue URL's host (`sqs.<region>.localhost`), which `interceptLocalhostDns`
 * resolves to the emulator while it runs.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { LOCAL_AWS } from './dynamodb-local.js';

export interface LocalSqs {
  /** The emulator's address (for the handlers' SQS endpoint). */
  endpoint: string;
  sqs: SQSClient;
  queueUrl: string;
  /** Stops the emulator and restores DNS resolution. */
  stop(): Promise<void>;
}

export async function startLocalSqs(queueName = 'jobs'): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, logger: false });
  const restoreDns = interceptLocalhostDns();
  const queueUrl = server.createQueue(queueName).queueUrl;
  // The endpoint the queue URLs name (sqs.<region>.localhost:<port>), not 127.0.0.1: the SDK warns
  // on every call whose QueueUrl host differs from its endpoint.
  const endpoint = new URL(queueUrl).origin;
  const sqs = new SQSClient({ ...LOCAL_AWS, endpoint });
  return {
    endpoint,
    sqs,
    queueUrl,
    stop: async () => {
      sqs.destroy();
      restoreDns();
      await server.stop();
    },
  };
}
