import path from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ContextError, parseContext, type RsqloContext } from './context.js';
import { PROJECT_ROOT, RsqloStack } from './rsqlo-stack.js';
import { bundleScripts, type DeployedWorkflow, loadCalendarFolder, loadWorkflowFolder } from './workflows.js';

/**
 * Context keys that make the CloudFormation validator (aws-cdk-lib's built-in
 * CloudFormationValidatePlugin: the CloudFormation resource schemas and rules, offline) fail the
 * synth on its errors and its warnings, instead of printing them. Set unless the context says
 * otherwise (infra/cdk.json sets them too, to be visible).
 */
export const STRICT_VALIDATION_CONTEXT = {
  '@aws-cdk/core:validateAgainstDefaultRules': true,
  '@aws-cdk/core:strictCfnValidateErrors': true,
} as const;

export interface BuiltApp {
  app: App;
  stack: RsqloStack;
  config: RsqloContext;
  workflows: DeployedWorkflow[];
}

/** Resolves `workflows_path` against the repository root (unless absolute). */
export function workflowsFolder(config: RsqloContext, root = PROJECT_ROOT): string | undefined {
  if (!config.workflowsPath) return undefined;
  return path.isAbsolute(config.workflowsPath) ? config.workflowsPath : path.join(root, config.workflowsPath);
}

/**
 * Builds the rsqlo app on `app`: reads and checks the context, loads the workflows folder, adds
 * the stack, and registers the checks that run at synth — cdk-nag's AwsSolutions pack (its errors
 * fail the synth; accepted findings are acknowledged in the stack with a reason) and the
 * CloudFormation validator as errors.
 */
export function buildApp(app: App, opts: { projectRoot?: string } = {}): BuiltApp {
  for (const [k, v] of Object.entries(STRICT_VALIDATION_CONTEXT))
    if (app.node.tryGetContext(k) === undefined) app.node.setContext(k, v);
  const config = parseContext((k) => app.node.tryGetContext(k));
  const folder = workflowsFolder(config, opts.projectRoot);
  const workflows = folder ? loadWorkflowFolder(folder) : [];
  // The scripts beside the definitions, shipped as a versioned asset (infra/constructs/script-assets.ts).
  const scripts = folder ? bundleScripts(folder, workflows) : undefined;
  const stack = new RsqloStack(app, config.stackName, {
    config,
    workflows,
    scripts,
    calendars: folder ? loadCalendarFolder(folder) : [],
    projectRoot: opts.projectRoot,
    description: 'rsqlo: event-driven orchestration of Amazon Redshift RSQL workflows',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  for (const n of scripts?.notShipped ?? [])
    Validations.of(stack).addWarning(
      `rsqlo:scripts-not-shipped-${n.workflowId}`,
      `workflow ${n.workflowId}: ${n.reason}; its jobs run from rsql_script_path on the hosts`,
    );
  for (const key of config.ignored)
    Validations.of(stack).addWarning(
      `rsqlo:ignored-context-${key}`,
      `context "${key}" is not used: rsqlo runs scripts through its agent (agent/), not the seed's wrapper script`,
    );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config, workflows };
}

export { ContextError };
