/** Engine benchmark scenarios (run one per process by engine-bench.ts). */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import { LocalEngine } from '../../runtime/local/engine.js';

const NOOP = '#!/bin/bash\ntrue\n';

export function noopScript(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, 'noop.sh');
  writeFileSync(p, NOOP);
  chmodSync(p, 0o755);
  return p;
}

function definition(
  id: string,
  stages: Array<{ type: 'sequential' | 'parallel'; jobs: number; maxConcurrency?: number }>,
): WorkflowDefinition {
  return {
    workflow_id: id,
    workflow_stages: stages.map((s) => ({
      execution_flag: 'y',
      execution_type: s.type,
      scripts: Array.from({ length: s.jobs }, () => 'noop.sh'),
      ...(s.maxConcurrency ? { max_concurrency: s.maxConcurrency } : {}),
    })),
  };
}

/** Runs one workflow on a fresh engine home; returns wall time, store writes and job count. */
export async function runWorkflow(
  workDir: string,
  def: WorkflowDefinition,
): Promise<{ wallMs: number; writes: number; jobs: number; status: string }> {
  const home = path.join(workDir, `home-${def.workflow_id}`);
  rmSync(home, { recursive: true, force: true });
  const scripts = path.join(workDir, 'scripts');
  noopScript(scripts);
  const engine = LocalEngine.open({ home, maxProcesses: 64 });
  try {
    engine.putDefinition(def, scripts);
    const exec = `${def.workflow_id}-bench`;
    const writes0 = engine.store.writes;
    const t0 = performance.now();
    engine.request({ version: 1, workflow_id: def.workflow_id, workflow_execution_id: exec });
    await engine.runUntil(() => engine.isSettled(exec));
    const wallMs = performance.now() - t0;
    const run = engine.getRun(exec);
    return {
      wallMs,
      writes: engine.store.writes - writes0,
      jobs: run?.counts.total ?? 0,
      status: run?.execution_status ?? 'missing',
    };
  } finally {
    engine.close();
  }
}

export async function scenario(name: string, workDir: string): Promise<Record<string, unknown>> {
  switch (name) {
    case 'sequential': {
      const r = await runWorkflow(workDir, definition('bench_seq', [{ type: 'sequential', jobs: 500 }]));
      return { ...r };
    }
    case 'fanout': {
      const r = await runWorkflow(
        workDir,
        definition('bench_fan', [{ type: 'parallel', jobs: 5000, maxConcurrency: 16 }]),
      );
      return { ...r };
    }
    case 'scale': {
      const stages = Array.from({ length: 20 }, () => ({
        type: 'parallel' as const,
        jobs: 500,
        maxConcurrency: 16,
      }));
      const r = await runWorkflow(workDir, definition('bench_scale', stages));
      return { ...r };
    }
    case 'writes': {
      const small = await runWorkflow(
        workDir,
        definition('bench_w50', [{ type: 'parallel', jobs: 50, maxConcurrency: 16 }]),
      );
      const large = await runWorkflow(
        workDir,
        definition('bench_w500', [{ type: 'parallel', jobs: 500, maxConcurrency: 16 }]),
      );
      const seqSmall = await runWorkflow(
        workDir,
        definition('bench_s50', [{ type: 'sequential', jobs: 50 }]),
      );
      const seqLarge = await runWorkflow(
        workDir,
        definition('bench_s500', [{ type: 'sequential', jobs: 500 }]),
      );
      return { small, large, seqSmall, seqLarge };
    }
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}
