/**
 * The port contract suite of issue 14 (services/testing/operator-ports-contract.ts, shared by every
 * store) on the DynamoDB repositories, against DynamoDB Local: a fresh set of tables per test.
 */
import { describe } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import type { JobMessage } from '../../contracts/jobs.js';
import {
  describeOperatorRepositoryContract,
  describePoolRepositoryContract,
  type OperatorPortsHarness,
} from '../../services/testing/operator-ports-contract.js';
import { useDynamoClients } from '../../test/support/dynamodb-clients.js';
import { createTestTables, dynamoLocal } from '../../test/support/dynamodb-local.js';
import { createDynamoDefinitionRepository } from './dynamo-definitions.js';
import { createDynamoJobRepository } from './dynamo-jobs.js';
import { createDynamoOperatorRepository } from './dynamo-operator.js';
import { createDynamoPoolRepository } from './dynamo-pools.js';
import { createDynamoRunRepository } from './dynamo-runs.js';
import type { EffectsSink } from './effects.js';

const ddb = dynamoLocal('runtime/aws/dynamo-operator-contract.test.ts');

describe.skipIf(!ddb.endpoint)('issue 14 port contract on DynamoDB Local', () => {
  const dynamo = useDynamoClients(ddb.endpoint as string);

  async function harness(): Promise<OperatorPortsHarness> {
    const tables = await createTestTables(dynamo().dynamodb);
    const events: RsqloEvent[] = [];
    const messages: JobMessage[] = [];
    // What the Lambda's sink would publish and send after each committed write.
    const effects: EffectsSink = {
      async apply(fx) {
        events.push(...(fx?.events ?? []));
        messages.push(...(fx?.messages ?? []).map((m) => m.body));
      },
    };
    const client = dynamo().documents;
    const names = { config: tables.config, workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit };
    const definitions = createDynamoDefinitionRepository({ client, tableName: tables.config });
    return {
      pools: createDynamoPoolRepository({
        client,
        configTable: tables.config,
        jobAuditTable: tables.jobAudit,
        effects,
      }),
      operator: createDynamoOperatorRepository({ client, tables: names, effects }),
      runs: createDynamoRunRepository({ client, tables: names, effects }),
      jobs: createDynamoJobRepository({ client, tableName: tables.jobAudit, effects }),
      putDefinition: (def) =>
        definitions.put(def as unknown as { workflow_id: string } & Record<string, unknown>),
      committed: () => ({ events: [...events], messages: [...messages] }),
    };
  }

  describePoolRepositoryContract('DynamoDB', harness);
  describeOperatorRepositoryContract('DynamoDB', harness);
});
