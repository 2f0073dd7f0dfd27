import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { wrapperDefinition } from '../../runtime/aws/wrapper-definition.js';

/** A DefinitionSubstitutions placeholder: `${Name}` in the definition, filled by CloudFormation. */
export const placeholder = (name: string) => `\${${name}}`;

/** Placeholders of the deployed definition. */
export const WRAPPER_SUBSTITUTIONS = {
  dispatcherFunctionArn: placeholder('DispatcherTaskFunctionArn'),
  eventBusName: placeholder('EventBusName'),
  partition: placeholder('Partition'),
} as const;

/**
 * The deployed definition with its placeholders filled the way CloudFormation fills them (for
 * the AWS-path tests, which run it with their own ARN, bus name and partition).
 */
export function substitutedWrapperDefinition(values: {
  dispatcherFunctionArn: string;
  eventBusName: string;
  partition: string;
}): string {
  let text = deployedWrapperDefinitionString();
  for (const key of Object.keys(WRAPPER_SUBSTITUTIONS) as Array<keyof typeof WRAPPER_SUBSTITUTIONS>)
    text = text.split(WRAPPER_SUBSTITUTIONS[key]).join(values[key]);
  return text;
}

/**
 * The definition string exactly as deployed: `wrapperDefinition` with placeholders that
 * CloudFormation replaces. The AWS-path tests can parse this (or the synthesized template's
 * DefinitionString, which is the same) and substitute their own ARN and bus name.
 */
export function deployedWrapperDefinitionString(): string {
  return JSON.stringify(wrapperDefinition(WRAPPER_SUBSTITUTIONS));
}

export interface JobWrapperProps {
  /** State machine name. */
  stateMachineName: string;
  /** The dispatcher's task function (the wrapper invokes it with a task token). */
  dispatcherTask: lambda.IFunction;
  /** The bus the Catch paths put JobFinished on. */
  bus: events.IEventBus;
  /** Default three months. */
  logRetention?: logs.RetentionDays;
}

/**
 * The single-job wrapper of ARCHITECTURE.md §4, deploying exactly `runtime/aws/wrapper-definition.ts`:
 * a Standard state machine (one execution per job attempt, waiting up to the job's timeout),
 * logging ALL events to its own log group (without execution data: inputs carry task tokens) and
 * X-Ray tracing on. Its role may invoke the dispatcher's task function and put events on the bus,
 * nothing else (plus the log-delivery and X-Ray actions Step Functions needs for logging/tracing).
 */
export class JobWrapper extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: JobWrapperProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'rsqlo job wrapper: invoke the dispatcher task function, report timeouts on the bus',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeDispatcherTask',
        actions: ['lambda:InvokeFunction'],
        resources: [props.dispatcherTask.functionArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReportOnBus',
        actions: ['events:PutEvents'],
        resources: [props.bus.eventBusArn],
      }),
    );
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(deployedWrapperDefinitionString()),
      definitionSubstitutions: {
        DispatcherTaskFunctionArn: props.dispatcherTask.functionArn,
        EventBusName: props.bus.eventBusName,
        Partition: Aws.PARTITION,
      },
      role,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
  }
}
