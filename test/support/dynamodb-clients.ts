import { afterAll, beforeAll } from 'vitest';
import { localClients, waitForDynamo } from './dynamodb-local.js';

/** The clients a test file's tables are reached with (see {@link useDynamoClients}). */
export type DynamoClients = ReturnType<typeof localClients>;

/**
 * For a describe block on DynamoDB Local: waits for it to answer and makes the clients before the
 * tests, destroys them after. Returns a getter, since the clients exist only once `beforeAll` ran.
 */
export function useDynamoClients(endpoint: string): () => DynamoClients {
  let clients: DynamoClients | undefined;
  beforeAll(async () => {
    await waitForDynamo(endpoint);
    clients = localClients(endpoint);
  });
  afterAll(() => clients?.dynamodb.destroy());
  return () => {
    if (!clients) throw new Error('DynamoDB Local clients used before beforeAll made them');
    return clients;
  };
}
