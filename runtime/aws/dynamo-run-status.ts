/**
 * The run watchdog's read (services/watchdog): one strongly consistent GetItem of a run's
 * `execution_status` (and `hold_state`, issue 14: a held run past its deadline is not overdue) in
 * the workflow audit table, projected so it costs one read unit however large the run's row is.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { WorkflowStatus } from '../../contracts/audit.js';
import type { HoldState } from '../../contracts/operator.js';
import type { RunStatusReader } from '../../services/ports.js';
import { isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';

export interface DynamoRunStatusDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the workflow audit table. */
  tableName: string;
  retry?: RetryOptions;
}

/** A run's status and hold, as the watchdog needs them at a deadline. */
export interface RunStatusAndHold {
  status: WorkflowStatus;
  /** Null when the run was never held (or the item predates holds). */
  hold_state: HoldState | null;
}

/** RunStatusReader plus the hold, read in the same projected GetItem. */
export interface DynamoRunStatusReader extends RunStatusReader {
  read(workflowExecutionId: string): Promise<RunStatusAndHold | undefined>;
}

export function createDynamoRunStatusReader(deps: DynamoRunStatusDeps): DynamoRunStatusReader {
  async function read(workflowExecutionId: string): Promise<RunStatusAndHold | undefined> {
    const out = await withRetries(
      `GetItem ${workflowExecutionId}`,
      () =>
        deps.client.send(
          new GetCommand({
            TableName: deps.tableName,
            Key: { workflow_execution_id: workflowExecutionId },
            ProjectionExpression: '#s, #h',
            ExpressionAttributeNames: { '#s': 'execution_status', '#h': 'hold_state' },
            ConsistentRead: true,
          }),
        ),
      (err) => isThrottling(err) || isServerError(err),
      deps.retry,
    );
    const status = out.Item?.execution_status;
    if (typeof status !== 'string') return undefined;
    return {
      status: status as WorkflowStatus,
      hold_state: (out.Item?.hold_state as HoldState | null) ?? null,
    };
  }
  return {
    read,
    async status(workflowExecutionId) {
      return (await read(workflowExecutionId))?.status;
    },
  };
}
