/**
 * The web run view in a real browser (issue 12): Debian's chromium driven by playwright-core,
 * over a live run of the local engine in another process. The page is opened once and must show
 * jobs moving from running to done without a reload; screenshots at 1280 and 390 px are checked
 * not to be blank. Hostile job names, error messages and log lines must stay text.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalLogSource } from '../../runtime/local/log-source.js';
import { createLocalRunViewSource, type LocalRunViewSource } from '../../runtime/local/run-view-source.js';
import { packageRoot } from '../../runtime/package-root.js';
import { cliActions } from '../../web/dev-actions.js';
import { createRunViewServer } from '../../web/server.js';
import { haveChromium, launchChromium } from '../support/chromium.js';
import { decodePng, imageStats } from '../support/png.js';
import { cli, type Workspace, workspace } from '../support/workspace.js';

const HAVE_CHROMIUM = haveChromium('web-run-view.test.ts');
const HOSTILE_NAME = '<img src=x onerror=window.__pwned=1>.sh';
const HOSTILE_ERROR = '<script>window.__pwned=2</script>';
const HOSTILE_LOG = '<b>bold</b><img src=x onerror="window.__pwned=3">';

describe.skipIf(!HAVE_CHROMIUM)('web run view in headless chromium (live run of the local engine)', () => {
  let ws: Workspace;
  let source: LocalRunViewSource;
  let view: ReturnType<typeof createRunViewServer>;
  let base: string;
  let context: BrowserContext;
  let shots: string;
  const children: ChildProcess[] = [];
  let workflowFile: string;

  /** `rsqlo run` in its own process, as a user would in another terminal. */
  function startRun(exec: string): ChildProcess {
    const child = spawn(
      process.execPath,
      [
        path.join(packageRoot(), 'bin', 'rsqlo.js'),
        'run',
        workflowFile,
        '--home',
        ws.home,
        '--no-database',
        '--execution-id',
        exec,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(child);
    return child;
  }

  async function waitForRun(exec: string, status: string, ms = 60_000): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if ((await source.getRun(exec))?.run.execution_status === status) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${exec} did not become ${status} within ${ms} ms`);
  }

  async function screenshot(
    page: Page,
    name: string,
  ): Promise<{ file: string; stats: ReturnType<typeof imageStats> }> {
    const file = path.join(shots, name);
    const png = await page.screenshot({ path: file, fullPage: true });
    const img = decodePng(png);
    return { file, stats: imageStats(img) };
  }

  beforeAll(async () => {
    ws = workspace('rsqlo-web-');
    shots = process.env.RSQLO_SCREENSHOT_DIR ?? path.join(ws.dir, 'screenshots');
    mkdirSync(shots, { recursive: true });
    const gate = (n: number) => path.join(ws.dir, `gate${n}`);
    const wait = (n: number) => `for i in $(seq 1200); do [ -e ${gate(n)} ] && break; sleep 0.05; done`;
    ws.script('load_orders.sh', `echo "a starts"\n${wait(1)}\necho "a done"`);
    ws.script(
      HOSTILE_NAME,
      `echo '${HOSTILE_LOG}'\nif [ "$RSQLO_ATTEMPT" = 1 ]; then echo '${HOSTILE_ERROR}' >&2; exit 3; fi\n${wait(2)}\necho "retry done"`,
    );
    ws.script('audit.sh', `for i in $(seq 1 25); do echo "audit line $i"; done\n${wait(2)}`);
    workflowFile = ws.workflow({
      workflow_id: 'web_view_test',
      workflow_description: 'Browser <em>test</em> workflow',
      defaults: { retry_backoff_seconds: 1 },
      workflow_stages: [
        {
          execution_flag: 'y',
          execution_type: 'sequential',
          stage_description: 'Load',
          scripts: ['load_orders.sh'],
        },
        {
          execution_flag: 'y',
          execution_type: 'parallel',
          stage_description: 'Check & audit',
          scripts: [{ script: HOSTILE_NAME, retries: 1 }, 'audit.sh'],
        },
      ],
    });
    // One earlier run (gates open) gives the workflow a history.
    writeFileSync(gate(1), '');
    writeFileSync(gate(2), '');
    const first = await cli(['run', workflowFile, '--home', ws.home, '--execution-id', 'web-view-first']);
    expect(first.code).toBe(0);
    rmSync(gate(1));
    rmSync(gate(2));

    source = createLocalRunViewSource({ home: ws.home, pollMs: 100 });
    const logs = createLocalLogSource({ locate: (ref) => source.attemptLog(ref), pollMs: 100 });
    view = createRunViewServer({
      source,
      logs,
      actions: cliActions({ home: ws.home, source, restartArgs: ['--no-database'] }),
    });
    base = await view.listen(0, '127.0.0.1');
    context = await launchChromium(900);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await view?.close();
    source?.close();
    for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
  });

  it('shows a live run: jobs go from running to done without a reload, retries visible, hostile text inert', async () => {
    const exec = 'web-view-live';
    const run = startRun(exec);
    let stderr = '';
    run.stderr?.on('data', (c) => {
      stderr += String(c);
    });
    await waitForRun(exec, 'Running');
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/runs/${exec}`);
    // Full page loads after the first (hash changes and replaceState are not loads).
    let loads = 0;
    page.on('load', () => {
      loads++;
    });
    // Page code is given as strings: it runs in the browser, not under this file's (Node) types.
    await page.evaluate("window.__marker = 'same document'");

    // The first job runs: its bar is there and grows.
    const row11 = page.locator('.g-row[data-row="1.1"]');
    await row11.locator('.bar[data-status="Running"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('#live').getAttribute('data-state')).toBe('live');
    const w1 = await row11.locator('.bar').evaluate((b) => b.getBoundingClientRect().width);
    await expect
      .poll(async () => row11.locator('.bar').evaluate((b) => b.getBoundingClientRect().width), {
        timeout: 10_000,
      })
      .toBeGreaterThan(w1);
    const running = await screenshot(page, 'run-view-running-1280.png');
    expect(running.stats.distinctColours).toBeGreaterThan(20);
    expect(running.stats.fraction).toBeGreaterThan(0.02);

    // Keyboard: Tab reaches the running bar, its focus is visible, Enter opens the job and its log.
    await page.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate<boolean>(
        "document.activeElement?.getAttribute('data-focus-key') === 'bar:1.1:1'",
      );
    }
    expect(reached).toBe(true);
    const outline = await page.evaluate<{ style: string; width: number }>(
      '(() => { const s = getComputedStyle(document.activeElement); return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; })()',
    );
    expect(outline.style).not.toBe('none');
    expect(outline.width).toBeGreaterThanOrEqual(2);
    await page.keyboard.press('Enter');
    const log = page.locator('pre.log');
    await expect.poll(() => log.textContent(), { timeout: 15_000 }).toContain('a starts');
    expect(await page.locator('#job-title').textContent()).toContain('1.1 load_orders.sh');

    // Let the first job finish: the page moves on by itself, and the followed log ends.
    writeFileSync(path.join(ws.dir, 'gate1'), '');
    await row11.locator('.bar[data-status="Completed"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => row11.getAttribute('data-status')).toBe('Completed');
    await expect.poll(() => log.textContent(), { timeout: 15_000 }).toContain('a done');
    await page.locator('[data-log-state="finished"]').waitFor({ timeout: 15_000 });

    // Stage 2: the hostile job fails once, is retried (two bars in its row), the other job runs.
    const row21 = page.locator('.g-row[data-row="2.1"]');
    await row21.locator('.bar[data-attempt="2"][data-status="Running"]').waitFor({ timeout: 30_000 });
    await page.locator('.g-row[data-row="2.2"] .bar[data-status="Running"]').waitFor({ timeout: 30_000 });
    expect(await row21.locator('.bar[data-attempt="1"]').getAttribute('data-status')).toBe('Failed');
    await row21.locator('.bar[data-attempt="1"]').click();
    // The error is the end of the attempt's log (stdout and stderr in the order written), as text.
    await expect
      .poll(() => page.locator('.error[data-error="1"]').textContent())
      .toBe(`${HOSTILE_LOG}\n${HOSTILE_ERROR}`);
    await expect.poll(() => log.textContent(), { timeout: 15_000 }).toContain(HOSTILE_LOG);
    expect(await page.locator('#job-title').textContent()).toContain(HOSTILE_NAME);
    expect(await row21.locator('.job-btn').textContent()).toBe(`2.1 ${HOSTILE_NAME}`);
    // None of it became markup: no image, no script ran.
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('main script').count()).toBe(0);
    expect(await page.locator('main b', { hasText: 'bold' }).count()).toBe(0);

    // Finish the run: everything ends Completed on the same page.
    writeFileSync(path.join(ws.dir, 'gate2'), '');
    await page.locator('h1 .badge[data-status="Completed"]').waitFor({ timeout: 30_000 });
    await expect
      .poll(async () =>
        page
          .locator('.g-row[data-row]')
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status'))),
      )
      .toEqual(['Completed', 'Completed', 'Completed']);
    expect(await page.evaluate('window.__marker')).toBe('same document');
    expect(loads).toBe(0);

    const wide = await screenshot(page, 'run-view-1280.png');
    expect(wide.stats.distinctColours).toBeGreaterThan(20);
    expect(wide.stats.fraction).toBeGreaterThan(0.02);
    await page.setViewportSize({ width: 390, height: 844 });
    // Nothing is wider than a phone's screen.
    await expect
      .poll(() => page.evaluate<number>('document.documentElement.scrollWidth'))
      .toBeLessThanOrEqual(390);
    const narrow = await screenshot(page, 'run-view-390.png');
    expect(narrow.stats.distinctColours).toBeGreaterThan(20);
    expect(narrow.stats.fraction).toBeGreaterThan(0.02);
    const img = decodePng(readFileSync(narrow.file));
    expect(img.width).toBe(390);
    expect(errors).toEqual([]);
    await new Promise<void>((resolve) =>
      run.exitCode !== null ? resolve() : run.on('exit', () => resolve()),
    );
    expect(run.exitCode, stderr).toBe(0);
    await page.close();
  }, 240_000);

  it('lists runs live with filters, shows the workflow history and definition, and kills and restarts with a confirmation', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.locator('tr[data-run="web-view-live"]').waitFor();
    expect(
      await page.locator('tr[data-run]').evaluateAll((r) => r.map((x) => x.getAttribute('data-run'))),
    ).toEqual(['web-view-live', 'web-view-first']);
    await page.selectOption('#f-status', 'Failed');
    await page.locator('td.empty').waitFor();
    expect(page.url()).toContain('status=Failed');
    await page.selectOption('#f-status', '');
    await page.locator('tr[data-run="web-view-first"]').waitFor();

    // A run started now appears in the open list without a reload; its first job waits.
    rmSync(path.join(ws.dir, 'gate1'), { force: true });
    rmSync(path.join(ws.dir, 'gate2'), { force: true });
    const exec = 'web-view-kill';
    startRun(exec);
    await page.locator(`tr[data-run="${exec}"] .badge[data-status="Running"]`).waitFor({ timeout: 30_000 });

    // Kill, with a confirmation that can be dismissed with Escape.
    await page.goto(`${base}/runs/${exec}`);
    await page.locator('.g-row[data-row="1.1"] .bar[data-status="Running"]').waitFor({ timeout: 30_000 });
    const kill = page.locator('button[data-action="kill"]');
    await kill.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain(`Kill ${exec}?`);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect((await source.getRun(exec))?.run.execution_status).toBe('Running');
    await kill.click();
    await page.locator('button[data-confirm="kill"]').click();
    await page.locator('h1 .badge[data-status="Cancelled"]').waitFor({ timeout: 60_000 });
    await expect
      .poll(() => page.locator('.g-row[data-row="1.1"]').getAttribute('data-status'))
      .toBe('Cancelled');

    // Restart is offered now; it starts a new run and links to it.
    writeFileSync(path.join(ws.dir, 'gate1'), '');
    writeFileSync(path.join(ws.dir, 'gate2'), '');
    const restart = page.locator('button[data-action="restart"]');
    await expect.poll(() => restart.isEnabled()).toBe(true);
    await restart.click();
    await page.locator('button[data-confirm="restart"]').click();
    const opened = page.locator('.status-line a');
    await opened.waitFor({ timeout: 60_000 });
    const next = ((await opened.textContent()) ?? '').replace(/^open /, '');
    expect(next).toMatch(/^web_view_test-/);
    await waitForRun(next, 'Completed');
    await page.locator(`.meta a[href="/runs/${next}"]`).waitFor({ timeout: 15_000 });

    // The workflow page: history with a durations chart, and the definition.
    await page.goto(`${base}/workflows/web_view_test`);
    await page.locator('.chart .cbar').first().waitFor();
    expect(await page.locator('.chart .cbar').count()).toBe(4);
    expect(await page.locator('pre.def').textContent()).toContain('"workflow_id": "web_view_test"');
    expect(await page.locator('main').textContent()).toContain('Browser <em>test</em> workflow');
    const wf = await screenshot(page, 'workflow-view-1280.png');
    expect(wf.stats.distinctColours).toBeGreaterThan(20);
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);
});
