import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ActionResult } from '../contracts/run-view.js';
import { packageRoot } from '../runtime/package-root.js';
import { newExecutionId } from '../services/starter/execution-id.js';
import type { RunActions, RunViewSource } from './ports.js';

export interface CliActionsOptions {
  home: string;
  source: RunViewSource;
  /** Extra arguments for `rsqlo restart` (the database options: `--no-database`, `--database-url URL`). */
  restartArgs?: string[];
  /** How long to wait for a restarted run to appear (default 20 s). */
  restartWaitMs?: number;
}

/**
 * Actions for the temporary dev server (web/dev.ts) until `rsqlo serve` wires the engine's own:
 * each runs the `rsqlo` command in a child process, exactly as a user would in a terminal. `kill`
 * waits for the command; `restart` starts `rsqlo restart` in the background (it drives the new run
 * to its end) and returns once the new run exists.
 */
export function cliActions(opts: CliActionsOptions): RunActions {
  const bin = path.join(packageRoot(), 'bin', 'rsqlo.js');
  /** An operator command (set-ok, rerun, bypass, hold): its output is the answer. */
  const operator = async (argv: string[], reason: string | undefined) => {
    const r = await runCli(
      bin,
      [...argv, ...(reason ? ['--reason', reason] : []), '--home', opts.home],
      60_000,
    );
    return {
      ok: r.code === 0,
      message: (r.code === 0 ? r.stdout : r.stderr || r.stdout).trim() || `rsqlo ${argv[0]} exited ${r.code}`,
      execution_id: null,
    } satisfies ActionResult;
  };
  return {
    set_ok: (exec, ctx) => operator(['set-ok', exec, ctx.jobKey ?? ''], ctx.reason),
    rerun: (exec, ctx) => operator(['rerun', exec, ctx.jobKey ?? ''], ctx.reason),
    bypass: (exec, ctx) => operator(['bypass', exec, ctx.jobKey ?? ''], ctx.reason),
    hold: (exec, ctx) => operator(['hold', exec, '--run'], ctx.reason),
    async kill(exec) {
      const r = await runCli(bin, ['kill', exec, '--home', opts.home], 60_000);
      return {
        ok: r.code === 0,
        message: (r.code === 0 ? r.stdout : r.stderr || r.stdout).trim() || `rsqlo kill exited ${r.code}`,
        execution_id: null,
      };
    },
    async restart(exec) {
      const before = await opts.source.getRun(exec);
      if (!before) return { ok: false, message: `no run ${exec}`, execution_id: null };
      const next = newExecutionId(before.run.workflow_id, new Date());
      const logDir = mkdtempSync(path.join(tmpdir(), 'rsqlo-web-restart-'));
      const logFile = path.join(logDir, 'restart.log');
      const fd = openSync(logFile, 'a');
      const child = spawn(
        process.execPath,
        [bin, 'restart', exec, '--home', opts.home, '--execution-id', next, ...(opts.restartArgs ?? [])],
        { detached: true, stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      child.unref();
      let exited: number | null | undefined;
      child.on('exit', (code) => {
        exited = code;
      });
      const deadline = Date.now() + (opts.restartWaitMs ?? 20_000);
      while (Date.now() < deadline) {
        if (await opts.source.getRun(next)) {
          return { ok: true, message: `restarted as ${next}`, execution_id: next } satisfies ActionResult;
        }
        if (exited !== undefined) {
          const out = readFileSync(logFile, 'utf8').trim();
          return { ok: false, message: out || `rsqlo restart exited ${exited}`, execution_id: null };
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        ok: false,
        message: `rsqlo restart did not start ${next} in time; see ${logFile}`,
        execution_id: null,
      };
    },
  };
}

function runCli(
  bin: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += String(c);
    });
    child.stderr.on('data', (c) => {
      stderr += String(c);
    });
    const t = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}
