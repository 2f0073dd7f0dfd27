/**
 * The run view as `rsqlo serve` serves it (issue 12, items 1–3), in Debian's chromium: a run
 * submitted with `rsqlo run` from another process shows live at `/runs/<id>` and ends Completed
 * without a reload; Kill and Restart on the page are done by the server's own engine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../contracts/run-view.js';
import { haveChromium, launchChromium } from '../support/chromium.js';
import { decodePng, imageStats } from '../support/png.js';
import { killProcessesMentioning, type RsqloProcess, spawnRsqlo, until } from '../support/processes.js';
import { type Workspace, workspace } from '../support/workspace.js';

const HAVE_CHROMIUM = haveChromium('serve-web-view.test.ts');

describe.skipIf(!HAVE_CHROMIUM)('the run view served by rsqlo serve, in headless chromium', () => {
  let ws: Workspace;
  let server: RsqloProcess;
  let base: string;
  let context: BrowserContext;
  let shots: string;
  let workflowDir: string;
  const procs: RsqloProcess[] = [];

  function start(argv: string[]): RsqloProcess {
    const p = spawnRsqlo(argv);
    procs.push(p);
    return p;
  }

  async function runsNow(): Promise<RunSummary[]> {
    return ((await (await fetch(`${base}/api/runs`)).json()) as { runs: RunSummary[] }).runs;
  }

  async function screenshot(page: Page, name: string) {
    const png = await page.screenshot({ path: path.join(shots, name), fullPage: true });
    return imageStats(decodePng(png));
  }

  beforeAll(async () => {
    ws = workspace('rsqlo-serve-web-');
    shots = process.env.RSQLO_SCREENSHOT_DIR ?? path.join(ws.dir, 'screenshots');
    mkdirSync(shots, { recursive: true });
    workflowDir = path.join(ws.dir, 'nightly_sales');
    mkdirSync(workflowDir, { recursive: true });
    const script = (name: string, body: string) =>
      writeFileSync(path.join(workflowDir, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    const gate = `for i in $(seq 2400); do [ -e ${ws.dir}/gate ] && break; sleep 0.05; done; [ -e ${ws.dir}/gate ] || exit 9`;
    script('load_orders.sh', `echo "loading orders"\n${gate}\necho "orders loaded"`);
    script('load_customers.sh', 'echo "customers loaded"');
    script('aggregate.sh', 'for i in $(seq 1 5); do echo "aggregate step $i"; done');
    writeFileSync(
      path.join(workflowDir, 'workflow.json'),
      JSON.stringify({
        workflow_id: 'nightly_sales',
        workflow_description: 'Nightly sales load',
        workflow_stages: [
          {
            execution_flag: 'y',
            execution_type: 'parallel',
            stage_description: 'Load',
            scripts: ['load_orders.sh', 'load_customers.sh'],
          },
          {
            execution_flag: 'y',
            execution_type: 'sequential',
            stage_description: 'Aggregate',
            scripts: ['aggregate.sh'],
          },
        ],
      }),
    );
    server = start(['serve', '--home', ws.home, '--port', '0', '--no-database']);
    base = await until(
      () => /rsqlo serve: .* at (http:\/\/127\.0\.0\.1:\d+)\//.exec(server.stdout())?.[1],
      `the server's URL (stderr: ${server.stderr()})`,
      60_000,
    );
    context = await launchChromium(800);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
        try {
          process.kill(-p.child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (ws) killProcessesMentioning(ws.dir);
  });

  it('shows a run submitted with rsqlo run live, to its end; Kill and Restart go through the engine', async () => {
    const run = start(['run', workflowDir, '--home', ws.home, '--execution-id', 'nightly-1']);
    await until(
      async () => (await runsNow()).some((r) => r.workflow_execution_id === 'nightly-1'),
      'the run',
    );
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/runs/nightly-1`);
    let loads = 0;
    page.on('load', () => {
      loads++;
    });
    await page.locator('.g-row[data-row="1.1"] .bar[data-status="Running"]').waitFor({ timeout: 30_000 });
    await page.locator('.g-row[data-row="1.2"] .bar[data-status="Completed"]').waitFor({ timeout: 30_000 });
    const running = await screenshot(page, 'serve-run-view-running-1280.png');
    expect(running.distinctColours).toBeGreaterThan(20);

    writeFileSync(path.join(ws.dir, 'gate'), '');
    await page.locator('h1 .badge[data-status="Completed"]').waitFor({ timeout: 60_000 });
    expect(
      await page
        .locator('.g-row[data-row]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status'))),
    ).toEqual(['Completed', 'Completed', 'Completed']);
    expect(loads).toBe(0);
    await page.locator('.g-row[data-row="2.1"] .job-btn').click();
    await expect
      .poll(() => page.locator('pre.log').textContent(), { timeout: 15_000 })
      .toContain('aggregate step 5');
    const done = await screenshot(page, 'serve-run-view-1280.png');
    expect(done.distinctColours).toBeGreaterThan(20);
    expect(done.fraction).toBeGreaterThan(0.02);
    expect(await run.exit, run.stderr()).toBe(0);
    expect(run.stdout()).toContain('nightly_sales nightly-1: Completed');

    // Kill from the page: the server's engine cancels the run; the rsqlo run following it exits 1.
    const { rmSync } = await import('node:fs');
    rmSync(path.join(ws.dir, 'gate'));
    const victim = start(['run', workflowDir, '--home', ws.home, '--execution-id', 'nightly-2']);
    await page.goto(`${base}/runs/nightly-2`);
    await page.locator('.g-row[data-row="1.1"] .bar[data-status="Running"]').waitFor({ timeout: 30_000 });
    await page.locator('button[data-action="kill"]').click();
    await page.locator('button[data-confirm="kill"]').click();
    await page.locator('h1 .badge[data-status="Cancelled"]').waitFor({ timeout: 60_000 });
    expect(await victim.exit).toBe(1);
    expect(victim.stdout()).toContain('nightly_sales nightly-2: Cancelled');

    // Restart from the page: a new run in the server, linked both ways; it completes.
    writeFileSync(path.join(ws.dir, 'gate'), '');
    const restart = page.locator('button[data-action="restart"]');
    await expect.poll(() => restart.isEnabled()).toBe(true);
    await restart.click();
    await page.locator('button[data-confirm="restart"]').click();
    const opened = page.locator('.status-line a');
    await opened.waitFor({ timeout: 60_000 });
    const next = ((await opened.textContent()) ?? '').replace(/^open /, '');
    expect(next).toMatch(/^nightly_sales-/);
    await until(
      async () =>
        (await runsNow()).find((r) => r.workflow_execution_id === next && r.execution_status === 'Completed'),
      'the restarted run to complete',
    );
    const restarted = (await runsNow()).find((r) => r.workflow_execution_id === next);
    expect(restarted?.restart_of).toBe('nightly-2');
    expect(server.stdout()).toContain(`workflow nightly_sales started as ${next}`);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);
});
