import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface RunWatchdogProps {
  /** The run watchdog function (services/watchdog/handler.ts): what each run's schedule invokes. */
  watchdog: lambda.IFunction;
  /** Name of the schedule group of the run checks (one per stack, apart from the workflow schedules). */
  scheduleGroupName: string;
  /** Where a check goes that Scheduler could not invoke after its retries. */
  deadLetterQueue: sqs.IQueue;
}

/**
 * Detects runs older than their longest possible duration, for $1.00 per million runs: the starter
 * creates one EventBridge Scheduler one-time schedule per run (`at(<deadline_at>)`,
 * runtime/aws/scheduler-run-watch.ts) in this construct's schedule group; at the deadline Scheduler
 * invokes the watchdog function with this construct's role, and the schedule deletes itself. The
 * watchdog reads the run's status and logs RunOverdue for a run still Running, which the "runs
 * overdue" alarm counts (monitoring.ts). This replaced a Standard Step Functions execution per run
 * (4 billed state transitions each).
 */
export class RunWatchdog extends Construct {
  readonly group: scheduler.CfnScheduleGroup;
  /** The role Scheduler assumes to invoke the watchdog (the starter passes it when it creates a schedule). */
  readonly role: iam.Role;
  /** `arn:…:scheduler:<region>:<account>:schedule/<group>/*`: every run check. */
  readonly schedulesArn: string;

  constructor(scope: Construct, id: string, props: RunWatchdogProps) {
    super(scope, id);
    this.group = new scheduler.CfnScheduleGroup(this, 'Group', { name: props.scheduleGroupName });
    const stack = Stack.of(this);
    this.schedulesArn = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${props.scheduleGroupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    // The execution role, with the confused-deputy conditions the Scheduler user guide recommends
    // (aws:SourceAccount, and aws:SourceArn on this stack's run-check group).
    this.role = new iam.Role(this, 'Role', {
      description: 'rsqlo run checks: EventBridge Scheduler invokes the run watchdog at a run deadline',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': this.schedulesArn },
        },
      }),
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeWatchdog',
        actions: ['lambda:InvokeFunction'],
        resources: [props.watchdog.functionArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeadLetters',
        actions: ['sqs:SendMessage'],
        resources: [props.deadLetterQueue.queueArn],
      }),
    );
  }
}
