import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DEFAULT_LOG_GROUP } from '../../runtime/aws/cloudwatch-logs.js';
import { ssmDocumentContent } from '../../runtime/aws/ssm-document.js';

/** The seed's log group for job logs (one stream per job attempt; the agent's default too). */
export const RSQL_LOG_GROUP_NAME = DEFAULT_LOG_GROUP;

/** The AWS managed policy agent hosts need for Run Command (attached by the user to the instance role). */
export const SSM_CORE_POLICY = 'AmazonSSMManagedInstanceCore';

export interface AgentHostAccessProps {
  /** SSM document name. */
  documentName: string;
  /** Name or ARN of the Secrets Manager secret with the Redshift credentials. */
  redshiftSecretId: string;
  /** The rsqlo bus: the hosts put JobStarted / JobFinished on it. */
  bus: events.IEventBus;
  /** The single-job wrapper: the hosts answer its task tokens and read its executions' status. */
  wrapper: Pick<sfn.StateMachine, 'stateMachineArn' | 'stateMachineName'>;
  /** Managed policy name. */
  policyName: string;
  /** Retention of the job logs. Default three months. */
  logRetention?: logs.RetentionDays;
  /** Job log group name. Default `/ops/rsql-logs/` (the seed's). */
  logGroupName?: string;
  /** Where the install script puts the agent. Default runtime/aws/ssm-document.ts's. */
  agentBin?: string;
}

/** The ARN a secret name or ARN stands for (a name matches the random suffix Secrets Manager adds). */
export function secretArn(stack: Stack, secretId: string): string {
  if (secretId.startsWith('arn:')) return secretId;
  return stack.formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${secretId}-??????`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * What the agent hosts use: the SSM Command document the dispatcher sends (exactly
 * `runtime/aws/ssm-document.ts`; new versions on update, so the name stays), the job log group
 * (`/ops/rsql-logs/`, with a retention), and the customer managed policy to attach to the hosts'
 * instance role beside AmazonSSMManagedInstanceCore: read the Redshift secret, put events on the
 * bus, answer the wrapper's task tokens (and read its executions' status), write job log streams.
 * Nothing else.
 */
export class AgentHostAccess extends Construct {
  readonly document: ssm.CfnDocument;
  readonly logGroup: logs.LogGroup;
  readonly policy: iam.ManagedPolicy;
  readonly documentArn: string;

  constructor(scope: Construct, id: string, props: AgentHostAccessProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.document = new ssm.CfnDocument(this, 'Document', {
      name: props.documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      targetType: '/AWS::EC2::Instance',
      updateMethod: 'NewVersion',
      content: ssmDocumentContent(props.agentBin ? { agentBin: props.agentBin } : {}),
    });
    this.documentArn = stack.formatArn({
      service: 'ssm',
      resource: 'document',
      resourceName: props.documentName,
    });
    this.logGroup = new logs.LogGroup(this, 'JobLogs', {
      logGroupName: props.logGroupName ?? RSQL_LOG_GROUP_NAME,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      managedPolicyName: props.policyName,
      description: `rsqlo agent hosts (attach with ${SSM_CORE_POLICY}): secret, bus, task tokens, job logs`,
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadRedshiftSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [secretArn(stack, props.redshiftSecretId)],
        }),
        new iam.PolicyStatement({
          sid: 'ReportJobEvents',
          actions: ['events:PutEvents'],
          resources: [props.bus.eventBusArn],
        }),
        new iam.PolicyStatement({
          sid: 'AnswerWrapperTaskTokens',
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
          resources: [props.wrapper.stateMachineArn],
        }),
        // When a task token is refused, whether the attempt still runs (a retried Dispatch replaced
        // the token) or ended (timeout, lost heartbeat, cancel).
        new iam.PolicyStatement({
          sid: 'ReadWrapperExecutions',
          actions: ['states:DescribeExecution'],
          resources: [
            stack.formatArn({
              service: 'states',
              resource: 'execution',
              resourceName: `${props.wrapper.stateMachineName}:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'WriteJobLogs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [this.logGroup.logGroupArn],
        }),
      ],
    });
  }
}
