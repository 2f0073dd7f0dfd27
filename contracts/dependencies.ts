/**
 * Checks across a set of loaded definitions that no single definition can check alone: every
 * `trigger.after` names a loaded workflow, the triggers form no cycle (a cycle would start its
 * workflows for ever, or never), and every `calendar` names a loaded calendar. Used wherever a
 * folder of definitions is loaded: `rsqlo validate` of a folder, `rsqlo serve --workflows`, and
 * the CDK app's workflow loading (infra/workflows.ts).
 */
import type { WorkflowDefinition } from './workflow.js';

/** A problem of one definition in the set, at a JSON path of it. */
export interface DependencyIssue {
  workflow_id: string;
  path: string;
  message: string;
}

type Linked = Pick<WorkflowDefinition, 'workflow_id' | 'trigger' | 'calendar'>;

/**
 * The cycles of the "runs after" graph, each once, as the ids along it starting and ending at the
 * smallest one (`["wf_a", "wf_b", "wf_a"]`: wf_b runs after wf_a, and wf_a after wf_b).
 */
export function triggerCycles(defs: readonly Linked[]): string[][] {
  // Edge upstream → downstream: the upstream finishing starts the downstream.
  const next = new Map<string, string[]>();
  for (const d of defs)
    for (const up of d.trigger?.after ?? []) next.set(up, [...(next.get(up) ?? []), d.workflow_id]);
  const ids = [...new Set([...defs.map((d) => d.workflow_id), ...next.keys()])].sort();
  const seen = new Set<string>();
  const out: string[][] = [];
  // Johnson-lite: from each start s (in order), find the simple cycles through s over ids ≥ s.
  for (const start of ids) {
    const stack: string[] = [start];
    const onPath = new Set<string>([start]);
    const walk = (node: string): void => {
      for (const n of next.get(node) ?? []) {
        if (n === start) {
          const cycle = [...stack, start];
          const key = cycle.join('\u0000');
          if (!seen.has(key)) {
            seen.add(key);
            out.push(cycle);
          }
        } else if (n > start && !onPath.has(n) && out.length < 100) {
          stack.push(n);
          onPath.add(n);
          walk(n);
          onPath.delete(n);
          stack.pop();
        }
      }
    };
    walk(start);
  }
  return out;
}

/** The cycle as people read it: `wf_a → wf_b → wf_a`. */
export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' → ');
}

/**
 * Every cross-definition problem of `defs`: unknown `trigger.after` names, trigger cycles (named
 * in full), and, when `calendars` is given, unknown `calendar` names. Empty when all is well.
 */
export function dependencyIssues(
  defs: readonly Linked[],
  calendars?: ReadonlySet<string>,
): DependencyIssue[] {
  const known = new Set(defs.map((d) => d.workflow_id));
  const out: DependencyIssue[] = [];
  for (const d of defs) {
    d.trigger?.after.forEach((up, i) => {
      if (!known.has(up))
        out.push({
          workflow_id: d.workflow_id,
          path: `trigger.after[${i}]`,
          message: `names workflow "${up}", which is not among the loaded definitions`,
        });
    });
    if (calendars && d.calendar !== undefined && !calendars.has(d.calendar))
      out.push({
        workflow_id: d.workflow_id,
        path: 'calendar',
        message: `names calendar "${d.calendar}", but there is no calendars/${d.calendar}.json${calendars.size ? ` (known: ${[...calendars].sort().join(', ')})` : ''}`,
      });
  }
  for (const c of triggerCycles(defs))
    out.push({
      workflow_id: c[0] as string,
      path: 'trigger.after',
      message: `dependency cycle ${formatCycle(c)}: each would wait for the other`,
    });
  return out;
}

/** Who waits for whom: upstream workflow id → the downstream ids whose `trigger.after` name it. */
export function dependentsIndex(defs: readonly Linked[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of [...defs].sort((a, b) => (a.workflow_id < b.workflow_id ? -1 : 1)))
    for (const up of d.trigger?.after ?? []) out.set(up, [...(out.get(up) ?? []), d.workflow_id]);
  return out;
}
