/**
 * What `rsqlo restart` runs (issue 12): never silently the old definition when the file was edited.
 *
 * - By default the definition file the run came from, when it still validates; what changed since
 *   the run is listed ("2.1 timeout_seconds 6 → 60").
 * - `--same-definition`: the definition stored with the run, as it was.
 * - `--definition FILE`: that file.
 * Either way the choice is recorded in the new run's audit record (`definition_source`).
 */
import { existsSync } from 'node:fs';
import type { DefinitionSource, WorkflowRunState } from '../contracts/audit.js';
import type { ContractIssue } from '../contracts/common.js';
import { validateDefinition, type WorkflowDefinition } from '../contracts/workflow.js';
import type { LocalStore } from '../runtime/local/store.js';
import { loadDefinition } from './definition.js';
import { definitionChanges } from './definition-diff.js';

export type RestartChoice =
  | {
      ok: true;
      definition: WorkflowDefinition;
      scriptRoot: string;
      /** The file the new run's definition came from (null: the stored one). */
      file: string | null;
      source: DefinitionSource;
      /** Lines to print before the run starts: which definition, and what changed. */
      lines: string[];
    }
  | { ok: false; file: string; issues: ContractIssue[]; hint?: string };

export interface RestartOptions {
  /** `--definition FILE` */
  definition?: string;
  /** `--scripts DIR` */
  scripts?: string;
  /** `--same-definition` */
  same: boolean;
}

/**
 * The definition a restart of `prev` runs (see the module comment). `store` is the engine's state,
 * read only.
 */
export function chooseRestartDefinition(
  store: LocalStore,
  prev: WorkflowRunState,
  opts: RestartOptions,
): RestartChoice {
  const exec = prev.workflow_execution_id;
  const kept = store.getRunDefinition(exec);
  const keptDef = kept ? validateDefinition(kept.body) : undefined;
  const before = keptDef?.ok ? keptDef.definition : undefined;
  const stored = (): RestartChoice | undefined => {
    if (before && kept)
      return {
        ok: true,
        definition: before,
        scriptRoot: kept.scriptRoot,
        file: null,
        source: { kind: 'stored', file: kept.file, changes: [] },
        lines: [`restarting ${exec} with the definition stored with it (as it ran)`],
      };
    // Runs from before the engine kept each run's definition: the workflow's stored definition.
    const current = store.getDefinition(prev.workflow_id);
    const checked = current ? validateDefinition(current.body) : undefined;
    if (current && checked?.ok)
      return {
        ok: true,
        definition: checked.definition,
        scriptRoot: current.scriptRoot,
        file: null,
        source: { kind: 'stored', file: null, changes: [] },
        lines: [
          `restarting ${exec} with the definition of ${prev.workflow_id} stored in the engine (the run predates per-run definitions, so what changed since it cannot be listed)`,
        ],
      };
    return undefined;
  };

  if (opts.same) {
    const s = stored();
    if (s) return s;
    return {
      ok: false,
      file: '(engine state)',
      issues: [{ path: '(definition)', message: `no stored definition of ${prev.workflow_id} to reuse` }],
    };
  }

  const fileArg = opts.definition ?? kept?.file ?? undefined;
  if (fileArg === undefined || (opts.definition === undefined && !existsSync(fileArg))) {
    const s = stored();
    if (!s)
      return {
        ok: false,
        file: fileArg ?? '(engine state)',
        issues: [
          {
            path: '(definition)',
            message: `no definition of ${prev.workflow_id} found: give --definition FILE`,
          },
        ],
      };
    if (fileArg !== undefined && s.ok)
      s.lines.unshift(`note: ${fileArg}, the file ${exec} came from, no longer exists`);
    return s;
  }
  const loaded = loadDefinition(
    fileArg,
    opts.scripts ?? (opts.definition === undefined ? kept?.scriptRoot : undefined),
  );
  if (!loaded.ok)
    return {
      ok: false,
      file: loaded.file,
      issues: loaded.issues,
      hint: `fix it, or restart with the definition the run used: --same-definition`,
    };
  if (loaded.definition.workflow_id !== prev.workflow_id)
    return {
      ok: false,
      file: loaded.file,
      issues: [
        {
          path: 'workflow_id',
          message: `defines ${loaded.definition.workflow_id}, but ${exec} ran ${prev.workflow_id}`,
        },
      ],
    };
  const changes = before ? definitionChanges(before, loaded.definition) : [];
  const lines = [`restarting ${exec} with ${loaded.file}`];
  if (!before) lines.push('  (the run predates per-run definitions: what changed since it cannot be listed)');
  else if (changes.length === 0) lines.push('  unchanged since the run');
  else {
    lines.push('  changed since the run:');
    for (const c of changes) lines.push(`    ${c}`);
  }
  return {
    ok: true,
    definition: loaded.definition,
    scriptRoot: loaded.scriptRoot,
    file: loaded.file,
    source: { kind: 'file', file: loaded.file, changes },
    lines,
  };
}

/**
 * "already restarted as X (Completed)" when `prev` was restarted (a run is restarted once), with
 * the latest run of its chain to restart instead when that one may be restarted.
 */
export function alreadyRestarted(store: LocalStore, prev: WorkflowRunState): string | undefined {
  const by = prev.restarted_as;
  if (!by) return undefined;
  const next = store.getRunSync(by);
  let latest = next;
  for (let i = 0; latest?.restarted_as && i < 10_000; i++) latest = store.getRunSync(latest.restarted_as);
  const head = `${prev.workflow_execution_id} was already restarted as ${by} (${next?.execution_status ?? 'unknown'})`;
  if (!latest) return `${head}; a run is restarted once`;
  const ls = latest.execution_status;
  const tail =
    ls === 'Failed' || ls === 'Cancelled'
      ? `; a run is restarted once: restart the latest of its chain, ${latest.workflow_execution_id} (${ls})`
      : latest.workflow_execution_id === by
        ? '; a run is restarted once'
        : `; a run is restarted once: the latest of its chain is ${latest.workflow_execution_id} (${ls})`;
  return head + tail;
}
