import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventschemas from 'aws-cdk-lib/aws-eventschemas';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../../contracts/events.js';
import { type RegistrySchema, registrySchemas } from '../schema-registry.js';

/** What another account's principals may do with the rules they create on the bus. */
export const SUBSCRIBER_RULE_ACTIONS = [
  'events:PutRule',
  'events:DeleteRule',
  'events:DescribeRule',
  'events:EnableRule',
  'events:DisableRule',
  'events:PutTargets',
  'events:RemoveTargets',
  'events:ListTargetsByRule',
  'events:TagResource',
  'events:UntagResource',
  'events:ListTagsForResource',
] as const;

export interface RsqloEventBusProps {
  /** Bus name. */
  busName: string;
  /** How long the archive keeps events for replay. Default 90 days. */
  archiveRetention?: Duration;
  /** Schemas for the registry. Default: every committed schema (contracts/schemas/), as Draft 4. */
  schemas?: RegistrySchema[];
  /**
   * Accounts allowed to create rules on this bus (to subscribe to rsqlo events from their
   * account), each only on rules it created itself (`events:creatorAccount`). Default none.
   */
  allowSubscribeAccountIds?: string[];
}

/**
 * The rsqlo bus: an archive of every rsqlo event (replay after an outage or a bug fix), a schema
 * registry with one schema per detail-type (the generated JSON Schemas, converted to the registry's
 * Draft 4, see schema-registry.ts) and the workflow definition schema, and optionally a resource
 * policy letting named accounts manage their own rules on the bus.
 */
export class RsqloEventBus extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  readonly registry: eventschemas.CfnRegistry;
  readonly schemas: eventschemas.CfnSchema[];

  constructor(scope: Construct, id: string, props: RsqloEventBusProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: props.busName,
      description: 'rsqlo: the choreography of Redshift RSQL workflows (source "rsqlo")',
    });
    this.archive = this.bus.archive('Archive', {
      description: 'Every rsqlo event, for replay',
      eventPattern: { source: [EVENT_SOURCE] },
      retention: props.archiveRetention ?? Duration.days(90),
    });
    this.registry = new eventschemas.CfnRegistry(this, 'Registry', {
      registryName: `${props.busName}-schemas`,
      description: 'rsqlo event and workflow-definition schemas (generated from contracts/)',
    });
    this.schemas = (props.schemas ?? registrySchemas()).map((s) => {
      const schema = new eventschemas.CfnSchema(this, `Schema-${s.name.replace(/[^A-Za-z0-9]/g, '')}`, {
        registryName: this.registry.attrRegistryName,
        schemaName: s.name,
        type: 'JSONSchemaDraft4',
        description: s.description,
        content: s.content,
      });
      return schema;
    });
    const stack = Stack.of(this);
    for (const account of props.allowSubscribeAccountIds ?? []) {
      this.bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `AllowRulesOfAccount${account}`,
          principals: [new iam.AccountPrincipal(account)],
          actions: [...SUBSCRIBER_RULE_ACTIONS],
          resources: [
            stack.formatArn({ service: 'events', resource: 'rule', resourceName: `${props.busName}/*` }),
          ],
          conditions: { StringEqualsIfExists: { 'events:creatorAccount': account } },
        }),
      );
    }
  }
}
