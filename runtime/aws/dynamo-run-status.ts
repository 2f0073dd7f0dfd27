/**
 * The run watchdog's read (services/watchdog): one strongly consistent GetItem of a run's
 * `execution_status` in the workflow audit table, projected so it costs one read unit however large
 * the run's row is.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { WorkflowStatus } from '../../contracts/audit.js';
import type { RunStatusReader } from '../../services/ports.js';
import { isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';

export interface DynamoRunStatusDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the workflow audit table. */
  tableName: string;
  retry?: RetryOptions;
}

export function createDynamoRunStatusReader(deps: DynamoRunStatusDeps): RunStatusReader {
  return {
    async status(workflowExecutionId) {
      const out = await withRetries(
        `GetItem ${workflowExecutionId}`,
        () =>
          deps.client.send(
            new GetCommand({
              TableName: deps.tableName,
              Key: { workflow_execution_id: workflowExecutionId },
              ProjectionExpression: '#s',
              ExpressionAttributeNames: { '#s': 'execution_status' },
              ConsistentRead: true,
            }),
          ),
        (err) => isThrottling(err) || isServerError(err),
        deps.retry,
      );
      const status = out.Item?.execution_status;
      return typeof status === 'string' ? (status as WorkflowStatus) : undefined;
    },
  };
}
