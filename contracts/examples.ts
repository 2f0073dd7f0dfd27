import type { z } from 'zod';
import { type DetailType, type EVENT_SCHEMAS, eventIds } from './events.js';
import type { WorkflowDefinitionInput } from './workflow.js';

/**
 * The AWS blog's config item (the seed), exactly as published: it must validate unchanged. It is
 * the example of the generated workflow-definition JSON Schema.
 */
export const BLOG_WORKFLOW: WorkflowDefinitionInput = {
  workflow_id: 'blog_test_workflow',
  workflow_description: 'Test Workflow for Blog',
  workflow_stages: [
    {
      execution_flag: 'y',
      execution_type: 'sequential',
      stage_description: 'Schema & Table Creation Stage',
      scripts: ['rsql_blog_script_1.sh', 'rsql_blog_script_2.sh'],
    },
    {
      execution_flag: 'y',
      execution_type: 'parallel',
      stage_description: 'Data Insertion Stage 1',
      scripts: ['rsql_blog_script_3.sh', 'rsql_blog_script_4.sh'],
    },
    {
      execution_flag: 'y',
      execution_type: 'parallel',
      stage_description: 'Data Insertion Stage 2',
      scripts: ['rsql_blog_script_5.sh', 'rsql_blog_script_6.sh'],
    },
  ],
};

/** What a producer may put on the bus for a detail-type (before defaults are applied). */
export type DetailInput<T extends DetailType> = z.input<(typeof EVENT_SCHEMAS)[T]>;

const EXEC = 'blog_test_workflow-01J9ZQ3V4K8M2N5P7R9S1T3V5X';
const WF = 'blog_test_workflow';

/**
 * One realistic detail per detail-type, from one run of the blog workflow. They are the examples
 * of the generated JSON Schemas (what downstream teams see first) and the fixtures of the contract
 * tests; the mapped type makes a new detail-type without an example a compile error.
 */
export const EVENT_EXAMPLES: { readonly [T in DetailType]: DetailInput<T> } = {
  WorkflowRequested: {
    version: 1,
    workflow_id: WF,
    parameters: { LOAD_DATE: '2024-05-01' },
    requested_by: 'cli',
  },
  WorkflowCancelRequested: {
    version: 1,
    workflow_id: WF,
    workflow_execution_id: EXEC,
    reason: 'bad input file',
    requested_by: 'cli',
  },
  WorkflowRejected: {
    version: 1,
    event_id: eventIds.workflowRejected('req-7f3c'),
    occurred_at: '2024-05-01T10:00:00.000Z',
    workflow_id: WF,
    workflow_execution_id: null,
    reason: 'ActiveRunLimit',
    message: 'blog_test_workflow already has 1 active run (max_active_runs 1)',
  },
  WorkflowStarted: {
    version: 1,
    event_id: eventIds.workflowStarted(EXEC),
    occurred_at: '2024-05-01T10:00:00.120Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    restart_of: null,
    stage_count: 3,
    job_count: 6,
    stages: [
      { stage: 1, execution_type: 'sequential', enabled: true, job_count: 2, jobs_to_run: 2 },
      { stage: 2, execution_type: 'parallel', enabled: true, job_count: 2, jobs_to_run: 2 },
      { stage: 3, execution_type: 'parallel', enabled: true, job_count: 2, jobs_to_run: 2 },
    ],
    parameter_names: ['LOAD_DATE'],
    // 4 jobs' worth of 24 h timeouts plus 300 s overhead each (stage 1 sequential, 2 and 3 parallel).
    deadline_at: '2024-05-05T10:20:01Z',
  },
  StageReady: {
    version: 1,
    event_id: eventIds.stageReady(EXEC, 1, 'started'),
    occurred_at: '2024-05-01T10:00:00.120Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    stage: 1,
  },
  JobStarted: {
    version: 1,
    event_id: eventIds.jobStarted(EXEC, '2.1', 1),
    occurred_at: '2024-05-01T10:00:05.000Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    job_key: '2.1',
    job_name: 'rsql_blog_script_3.sh',
    stage: 2,
    attempt: 1,
    started_at: '2024-05-01T10:00:05.000Z',
    instance_id: 'i-0123456789abcdef0',
    ssm_command_id: 'c0ffee00-0000-4000-8000-000000000000',
    log_location: `/ops/rsql-logs/${EXEC}/2.1/a1`,
  },
  JobFinished: {
    version: 1,
    event_id: eventIds.jobFinished(EXEC, '2.1', 1),
    occurred_at: '2024-05-01T10:00:09.500Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    job_key: '2.1',
    job_name: 'rsql_blog_script_3.sh',
    stage: 2,
    attempt: 1,
    status: 'Failed',
    exit_code: 2,
    error_message: 'ERROR: relation "rsql_blog.blog_table" does not exist',
    started_at: '2024-05-01T10:00:05.000Z',
    finished_at: '2024-05-01T10:00:09.500Z',
    duration_ms: 4500,
    instance_id: 'i-0123456789abcdef0',
    ssm_command_id: 'c0ffee00-0000-4000-8000-000000000000',
    log_location: `/ops/rsql-logs/${EXEC}/2.1/a1`,
    reported_by: 'agent',
  },
  StageCompleted: {
    version: 1,
    event_id: eventIds.stageCompleted(EXEC, 2),
    occurred_at: '2024-05-01T10:00:10.000Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    stage: 2,
    status: 'Failed',
    counts: { total: 2, completed: 1, failed: 1, timed_out: 0, cancelled: 0, skipped: 0 },
  },
  WorkflowFinished: {
    version: 1,
    event_id: eventIds.workflowFinished(EXEC),
    occurred_at: '2024-05-01T10:00:10.100Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    status: 'Failed',
    counts: { total: 6, completed: 3, failed: 1, timed_out: 0, cancelled: 0, skipped: 2 },
    started_at: '2024-05-01T10:00:00.000Z',
    finished_at: '2024-05-01T10:00:10.100Z',
    duration_ms: 10_100,
    failed_stage: 2,
    failed_jobs: [
      {
        job_key: '2.1',
        job_name: 'rsql_blog_script_3.sh',
        status: 'Failed',
        exit_code: 2,
        error_message: 'ERROR: relation "rsql_blog.blog_table" does not exist',
        log_location: `/ops/rsql-logs/${EXEC}/2.1/a1`,
      },
    ],
  },
  SlaMissed: {
    version: 1,
    event_id: eventIds.slaMissed(EXEC, 'finish_by'),
    occurred_at: '2024-05-01T04:00:00.200Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    kind: 'finish_by',
    line_at: '2024-05-01T04:00:00.000Z',
    line: '06:00 Europe/Berlin',
    started_at: '2024-05-01T00:30:00.000Z',
  },
  RunLongerThanUsual: {
    version: 1,
    event_id: eventIds.runLongerThanUsual(EXEC),
    occurred_at: '2024-05-01T01:15:00.300Z',
    workflow_id: WF,
    workflow_execution_id: EXEC,
    started_at: '2024-05-01T00:30:00.000Z',
    line_at: '2024-05-01T01:15:00.000Z',
    p90_seconds: 1800,
    threshold_seconds: 2700,
    history_runs: 20,
  },
};
