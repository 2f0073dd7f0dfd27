import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { IDEMPOTENCY_TABLE } from '../../runtime/aws/idempotency.js';
import {
  type IndexProjection,
  type KeyAttribute,
  TABLES,
  type TableSpec,
  tableNames,
} from '../../runtime/aws/tables.js';

export interface RsqloTablesProps {
  /** Physical name prefix (`<prefix>-config`, …). */
  prefix: string;
  /**
   * What happens to the tables when the stack is deleted. Default RETAIN: audit history and
   * definitions outlive the stack (the seed's clean-up step deletes them by hand too).
   */
  removalPolicy?: RemovalPolicy;
}

function attributeType(t: KeyAttribute['type']): dynamodb.AttributeType {
  return t === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING;
}

function projectionType(p: IndexProjection): dynamodb.ProjectionType {
  switch (p) {
    case 'KEYS_ONLY':
      return dynamodb.ProjectionType.KEYS_ONLY;
  }
}

function attr(a: KeyAttribute): dynamodb.Attribute {
  return { name: a.name, type: attributeType(a.type) };
}

/**
 * The three tables of ARCHITECTURE.md §7, built from `runtime/aws/tables.ts` (the same specs the AWS-path
 * tests create on DynamoDB Local), plus the idempotency table (runtime/aws/idempotency.ts: key
 * `id`, TTL on `expiration`). All on-demand, encrypted with the
 * AWS-managed key, point-in-time recovery on, deletion protection on for the retained ones; the
 * job audit table streams NEW_AND_OLD_IMAGES to the aggregator.
 */
export class RsqloTables extends Construct {
  readonly config: dynamodb.Table;
  readonly workflowAudit: dynamodb.Table;
  readonly jobAudit: dynamodb.Table;
  readonly idempotency: dynamodb.Table;

  constructor(scope: Construct, id: string, props: RsqloTablesProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const names = tableNames(props.prefix);
    const make = (spec: TableSpec) => {
      const table = new dynamodb.Table(this, spec.id, {
        tableName: names[spec.id],
        partitionKey: attr(spec.partitionKey),
        sortKey: spec.sortKey ? attr(spec.sortKey) : undefined,
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
        stream: spec.stream === 'NEW_AND_OLD_IMAGES' ? dynamodb.StreamViewType.NEW_AND_OLD_IMAGES : undefined,
        removalPolicy,
      });
      for (const gsi of spec.globalSecondaryIndexes)
        table.addGlobalSecondaryIndex({
          indexName: gsi.indexName,
          partitionKey: attr(gsi.partitionKey),
          sortKey: gsi.sortKey ? attr(gsi.sortKey) : undefined,
          projectionType: projectionType(gsi.projection),
        });
      for (const lsi of spec.localSecondaryIndexes)
        table.addLocalSecondaryIndex({
          indexName: lsi.indexName,
          sortKey: attr(lsi.sortKey),
          projectionType: projectionType(lsi.projection),
        });
      return table;
    };
    const byId = new Map(TABLES.map((t) => [t.id, make(t)]));
    this.config = byId.get('config') as dynamodb.Table;
    this.workflowAudit = byId.get('workflowAudit') as dynamodb.Table;
    this.jobAudit = byId.get('jobAudit') as dynamodb.Table;
    this.idempotency = new dynamodb.Table(this, 'idempotency', {
      tableName: `${props.prefix}-idempotency`,
      partitionKey: attr(IDEMPOTENCY_TABLE.partitionKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: IDEMPOTENCY_TABLE.ttlAttribute,
      // Short-lived records only: nothing to keep when the stack goes.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
