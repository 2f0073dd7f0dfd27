import type * as iam from 'aws-cdk-lib/aws-iam';
import { ALERT_KEY_PREFIX } from '../runtime/aws/dynamo-alert-dedupe.js';
import { HOLD_KEY_PREFIX, POOL_KEY_PREFIX } from '../runtime/aws/dynamo-items.js';
import { START_BY_MARK_PREFIX } from '../runtime/aws/dynamo-sla-marks.js';
import { AFTER_KEY_PREFIX, CALENDAR_KEY_PREFIX, TRIGGER_KEY_PREFIX } from '../runtime/aws/dynamo-trigger.js';
import type { SettingName } from '../runtime/aws/settings.js';
import { JOBS_BY_SEQUENCE_INDEX, RUNS_BY_WORKFLOW_INDEX } from '../runtime/aws/tables.js';

/** The ARNs adapter permissions are granted on. */
export interface PermissionTargets {
  configTable: string;
  workflowAuditTable: string;
  jobAuditTable: string;
  idempotencyTable: string;
  bus: string;
  jobQueue: string;
  wrapper: string;
  /** `…:execution:<wrapper name>:*`: the wrapper's executions. */
  wrapperExecutions: string;
  ssmDocument: string;
  /** Instance ARNs the dispatcher may send commands to (from `ec2_instance_id`). */
  agentInstances: string[];
  /** `arn:…:instance/*`, used with the agent tag condition. */
  anyInstance: string;
  agentTag: { key: string; value: string } | undefined;
  /** The alert topic (the notifier publishes to it). */
  alertTopic: string;
  /** `…:schedule/<run-check group>/*`: the run deadline checks (the starter creates them). */
  runWatchSchedules: string;
  /** The role EventBridge Scheduler assumes for them (the starter passes it). */
  runWatchRole: string;
}

/** One statement: `sid` says what it is for (prefix `Code` = an action the handler's code calls). */
export type StatementSpec = Required<Pick<iam.PolicyStatementProps, 'sid' | 'actions' | 'resources'>> &
  Pick<iam.PolicyStatementProps, 'conditions'>;

/** What the code behind each adapter of runtime/aws/compose.ts (and the idempotency store) calls, per resource. */
export type PermissionSource =
  | 'definitions'
  | 'runs'
  | 'jobs'
  | 'events'
  | 'queue'
  | 'orchestrator'
  | 'agents'
  | 'idempotency'
  | 'alerts'
  | 'alertDedupe'
  | 'runWatch'
  | 'runStatus'
  | 'slaWatch'
  | 'slaMarks'
  | 'triggers'
  | 'calendars'
  | 'pools'
  | 'operator';

const index = (tableArn: string, name: string) => `${tableArn}/index/${name}`;

/**
 * The statements each source needs, read off its module (runtime/aws/*.ts): which command it
 * sends to which table or resource. `settings` are what the function reads: the run repository
 * touches the config table (active-run slots) only when it is given one.
 */
export function sourceStatements(
  source: PermissionSource,
  t: PermissionTargets,
  settings: ReadonlySet<SettingName>,
  opts: {
    /**
     * Whether the function's run repository keeps active-run slots (creates or ends runs: the
     * starter, the aggregator). Default true when it reads the config table; false for a function
     * that reads the config table for its `pool:` items only (planner, dispatcher).
     */
    runSlots?: boolean;
  } = {},
): StatementSpec[] {
  switch (source) {
    case 'definitions':
      // dynamo-definitions.ts: get (GetCommand) and put (PutCommand, keeping the slots).
      return [
        {
          sid: 'CodeDefinitions',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
          resources: [t.configTable],
        },
      ];
    case 'runs':
      // dynamo-runs.ts: runs (get, batch get for start times, create, conditional updates, the
      // ConditionCheck of claims), their job rows (created with the run, deleted when a create is
      // rolled back, updated by claims/counts), listRuns on by_workflow, job names on by_sequence,
      // and the config table's active-run slots and (createRun's ConditionCheck) the workflow's
      // `hold:` item.
      return [
        {
          sid: 'CodeRunsWorkflowAudit',
          actions: [
            'dynamodb:GetItem',
            'dynamodb:BatchGetItem',
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:ConditionCheckItem',
          ],
          resources: [t.workflowAuditTable],
        },
        {
          sid: 'CodeRunsByWorkflow',
          actions: ['dynamodb:Query'],
          resources: [index(t.workflowAuditTable, RUNS_BY_WORKFLOW_INDEX)],
        },
        {
          sid: 'CodeRunsJobAudit',
          actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
          resources: [t.jobAuditTable],
        },
        {
          sid: 'CodeRunsJobsBySequence',
          actions: ['dynamodb:Query'],
          resources: [index(t.jobAuditTable, JOBS_BY_SEQUENCE_INDEX)],
        },
        ...(settings.has('configTable') && opts.runSlots !== false
          ? [
              {
                sid: 'CodeRunsActiveSlots',
                actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'],
                resources: [t.configTable],
              },
            ]
          : []),
      ];
    case 'jobs':
      // dynamo-jobs.ts: get, conditional transitions, a stage's jobs on by_sequence.
      return [
        {
          sid: 'CodeJobs',
          actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
          resources: [t.jobAuditTable],
        },
        {
          sid: 'CodeJobsBySequence',
          actions: ['dynamodb:Query'],
          resources: [index(t.jobAuditTable, JOBS_BY_SEQUENCE_INDEX)],
        },
      ];
    case 'events':
      return [{ sid: 'CodePublishEvents', actions: ['events:PutEvents'], resources: [t.bus] }];
    case 'queue':
      // SendMessageBatch is authorized as sqs:SendMessage.
      return [{ sid: 'CodeQueueJobs', actions: ['sqs:SendMessage'], resources: [t.jobQueue] }];
    case 'orchestrator':
      return [
        { sid: 'CodeStartWrapper', actions: ['states:StartExecution'], resources: [t.wrapper] },
        {
          sid: 'CodeWrapperExecutions',
          actions: ['states:StopExecution', 'states:DescribeExecution'],
          resources: [t.wrapperExecutions],
        },
      ];
    case 'agents': {
      const out: StatementSpec[] = [
        // DescribeInstanceInformation supports no resource-level permissions.
        { sid: 'CodeFindOnlineAgents', actions: ['ssm:DescribeInstanceInformation'], resources: ['*'] },
        { sid: 'CodeSendDocument', actions: ['ssm:SendCommand'], resources: [t.ssmDocument] },
      ];
      if (t.agentInstances.length)
        out.push({
          sid: 'CodeSendToAgentInstances',
          actions: ['ssm:SendCommand'],
          resources: t.agentInstances,
        });
      if (t.agentTag)
        out.push({
          sid: 'CodeSendToTaggedAgents',
          actions: ['ssm:SendCommand'],
          resources: [t.anyInstance],
          conditions: { StringEquals: { [`ssm:resourceTag/${t.agentTag.key}`]: t.agentTag.value } },
        });
      return out;
    }
    case 'idempotency':
      // Powertools' DynamoDBPersistenceLayer: get, put (conditional), update, delete of its records.
      return [
        {
          sid: 'CodeIdempotencyRecords',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          resources: [t.idempotencyTable],
        },
      ];
    case 'alerts':
      // sns-alert-publisher.ts: Publish to the alert topic.
      return [{ sid: 'CodePublishAlerts', actions: ['sns:Publish'], resources: [t.alertTopic] }];
    case 'runWatch':
      // scheduler-run-watch.ts: CreateSchedule in the run-check group only. Scheduler's CreateSchedule
      // needs iam:PassRole on the schedule's execution role (the Service Authorization Reference
      // lists it as CreateSchedule's dependent action): exactly that role, passed to Scheduler only.
      return [
        {
          sid: 'CodeCreateRunChecks',
          actions: ['scheduler:CreateSchedule'],
          resources: [t.runWatchSchedules],
        },
        {
          sid: 'CodePassRunCheckRole',
          actions: ['iam:PassRole'],
          resources: [t.runWatchRole],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        },
      ];
    case 'slaWatch':
      // scheduler-run-watch.ts createSchedulerSlaWatch: the SLA lines' schedules, in the same group
      // with the same target and role as the deadline checks.
      return [
        {
          sid: 'CodeCreateSlaChecks',
          actions: ['scheduler:CreateSchedule'],
          resources: [t.runWatchSchedules],
        },
        {
          sid: 'CodePassSlaCheckRole',
          actions: ['iam:PassRole'],
          resources: [t.runWatchRole],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        },
      ];
    case 'slaMarks':
      // dynamo-sla-marks.ts: the conditional mark on the run item, and the read of why it failed.
      return [
        {
          sid: 'CodeSlaMarks',
          actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
          resources: [t.workflowAuditTable],
        },
        {
          // start_by has no run item to mark: its marks are `sla-start_by#` items of the
          // idempotency table, and only those.
          sid: 'CodeSlaStartByMarks',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [t.idempotencyTable],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${START_BY_MARK_PREFIX}*`] } },
        },
      ];
    case 'triggers':
      // dynamo-trigger.ts: the `after:` index and `trigger:` state items of the config table (get,
      // conditional put: only those keys), a workflow's newest run start on by_workflow.
      return [
        {
          sid: 'CodeTriggerState',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
          resources: [t.configTable],
          conditions: {
            'ForAllValues:StringLike': {
              'dynamodb:LeadingKeys': [`${AFTER_KEY_PREFIX}*`, `${TRIGGER_KEY_PREFIX}*`],
            },
          },
        },
        {
          sid: 'CodeTriggerLatestRun',
          actions: ['dynamodb:Query'],
          resources: [index(t.workflowAuditTable, RUNS_BY_WORKFLOW_INDEX)],
        },
      ];
    case 'calendars':
      // dynamo-trigger.ts: one GetItem of a `calendar:` item of the config table.
      return [
        {
          sid: 'CodeReadCalendars',
          actions: ['dynamodb:GetItem'],
          resources: [t.configTable],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${CALENDAR_KEY_PREFIX}*`] } },
        },
      ];
    case 'pools':
      // dynamo-pools.ts: the `pool:` items of the config table and their index item (get, batch
      // get for list, conditional put/updates, also inside transactions: only those keys), and
      // grant's job half (clearing the woken job's waiting_for).
      return [
        {
          sid: 'CodePoolItems',
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [t.configTable],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${POOL_KEY_PREFIX}*`] } },
        },
        { sid: 'CodePoolWakeJob', actions: ['dynamodb:UpdateItem'], resources: [t.jobAuditTable] },
      ];
    case 'operator':
      // dynamo-operator.ts: run items (get, the action's update, holds, batch get of a workflow's
      // active runs), job rows (the action's update, reviving skipped rows found on by_sequence),
      // the workflow's `hold:` item (get, conditional put/update: only those keys) and the
      // workflow's config item (max_active_runs and the active-run slot a reopened run takes).
      return [
        {
          sid: 'CodeOperatorRuns',
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem'],
          resources: [t.workflowAuditTable],
        },
        { sid: 'CodeOperatorJobs', actions: ['dynamodb:UpdateItem'], resources: [t.jobAuditTable] },
        {
          sid: 'CodeOperatorJobsBySequence',
          actions: ['dynamodb:Query'],
          resources: [index(t.jobAuditTable, JOBS_BY_SEQUENCE_INDEX)],
        },
        {
          sid: 'CodeOperatorHolds',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [t.configTable],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${HOLD_KEY_PREFIX}*`] } },
        },
        {
          sid: 'CodeOperatorActiveSlots',
          actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
          resources: [t.configTable],
        },
      ];
    case 'runStatus':
      // dynamo-run-status.ts: one GetItem of a run's status (and hold).
      return [{ sid: 'CodeReadRunStatus', actions: ['dynamodb:GetItem'], resources: [t.workflowAuditTable] }];
    case 'alertDedupe':
      // dynamo-alert-dedupe.ts: claim (conditional put, consistent get), complete (put), release
      // (conditional delete) — on the alert items only: their keys start with `alert#`, so the
      // notifier can neither read nor remove the dispatcher's idempotency records.
      return [
        {
          sid: 'CodeAlertDedupe',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
          resources: [t.idempotencyTable],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${ALERT_KEY_PREFIX}*`] } },
        },
      ];
  }
}
