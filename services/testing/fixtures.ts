/**
 * Workflow definitions for service tests, written the way users write them (raw JSON shapes, as
 * the config table holds them): the starter validates them like any stored definition.
 */
import type { WorkflowDefinitionInput } from '../../contracts/workflow.js';

type StageInput = WorkflowDefinitionInput['workflow_stages'][number];
type ScriptInput = StageInput['scripts'][number];

/** A sequential stage of these scripts (enabled unless `enabled: false`). */
export function sequential(
  scripts: ScriptInput[],
  opts: { enabled?: boolean; description?: string } = {},
): StageInput {
  return {
    execution_flag: opts.enabled === false ? 'n' : 'y',
    execution_type: 'sequential',
    ...(opts.description ? { stage_description: opts.description } : {}),
    scripts,
  };
}

/** A parallel stage of these scripts, optionally limited to `maxConcurrency` at once. */
export function parallel(
  scripts: ScriptInput[],
  opts: { enabled?: boolean; maxConcurrency?: number; description?: string } = {},
): StageInput {
  return {
    execution_flag: opts.enabled === false ? 'n' : 'y',
    execution_type: 'parallel',
    ...(opts.description ? { stage_description: opts.description } : {}),
    ...(opts.maxConcurrency !== undefined ? { max_concurrency: opts.maxConcurrency } : {}),
    scripts,
  };
}

/** A workflow definition with these stages (and any other top-level fields). */
export function workflow(
  workflowId: string,
  stages: StageInput[],
  extra: Omit<Partial<WorkflowDefinitionInput>, 'workflow_id' | 'workflow_stages'> = {},
): WorkflowDefinitionInput {
  return { workflow_id: workflowId, workflow_stages: stages, ...extra };
}

/** `count` script names `<prefix>1.sh` … `<prefix><count>.sh`. */
export function scripts(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}.sh`);
}

/** The seed's config item cut to its first two stages (the whole item is contracts/examples.ts BLOG_WORKFLOW). */
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
  ],
};
