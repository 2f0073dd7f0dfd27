/**
 * The command line over triggers and calendars: `rsqlo calendar` (next days; next firings of a
 * workflow's schedule across the Berlin DST changes of 2026), `rsqlo plan` honouring the calendar,
 * and cycles refused by `rsqlo validate --workflows` and `rsqlo serve --workflows`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../support/workspace.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-trigger-cli-'));
  dirs.push(dir);
  mkdirSync(path.join(dir, 'scripts'));
  writeFileSync(path.join(dir, 'scripts', 'a.sh'), '#!/bin/bash\nexit 0\n', { mode: 0o755 });
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), JSON.stringify(body, null, 2));
  }
  return dir;
}

const wf = (id: string, extra: Record<string, unknown> = {}) => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['scripts/a.sh'] }],
  ...extra,
});

const business = { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-03-27', '2026-10-26'] };

describe('rsqlo calendar', () => {
  it('lists the next firings of a workflow schedule on calendar days, across both Berlin DST changes', async () => {
    const dir = folder({
      'daily.json': wf('daily', {
        schedule: { expression: 'cron(30 6 ? * * *)', timezone: 'Europe/Berlin' },
        calendar: 'business',
      }),
      'calendars/business.json': business,
    });
    const spring = await cli([
      'calendar',
      'business',
      '--workflows',
      dir,
      '--workflow',
      'daily',
      '--next',
      '3',
      '--from',
      '2026-03-26T00:00:00Z',
      '--json',
    ]);
    expect(spring.code, spring.stderr).toBe(0);
    expect(JSON.parse(spring.stdout).fire_times).toEqual([
      '2026-03-26T05:30:00.000Z', // Thursday 06:30 CET
      '2026-03-30T04:30:00.000Z', // Monday 06:30 CEST (27 excluded, weekend, clocks forward on the 29th)
      '2026-03-31T04:30:00.000Z',
    ]);
    const autumn = await cli([
      'calendar',
      'business',
      '--workflows',
      dir,
      '--workflow',
      'daily',
      '--next',
      '3',
      '--from',
      '2026-10-22T12:00:00Z',
    ]);
    expect(autumn.code, autumn.stderr).toBe(0);
    expect(autumn.stdout.split('\n').slice(0, 4)).toEqual([
      'daily (cron(30 6 ? * * *) Europe/Berlin) on calendar business: the next 3 firing(s)',
      '  2026-10-23T04:30:00.000Z  2026-10-23 06:30 Fri CEST (Europe/Berlin)',
      // clocks go back on Sunday 25th; Monday 26th is excluded
      '  2026-10-27T05:30:00.000Z  2026-10-27 06:30 Tue CET (Europe/Berlin)',
      '  2026-10-28T05:30:00.000Z  2026-10-28 06:30 Wed CET (Europe/Berlin)',
    ]);
  });

  it('without --workflow lists the calendar days themselves; an unknown calendar is an error', async () => {
    const dir = folder({ 'daily.json': wf('daily'), 'calendars/business.json': business });
    const r = await cli([
      'calendar',
      'business',
      '--workflows',
      dir,
      '--next',
      '3',
      '--from',
      '2026-03-26T10:00:00Z',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      'calendar business: the next 3 calendar day(s) from 2026-03-26\n  2026-03-26 thu\n  2026-03-30 mon\n  2026-03-31 tue\n',
    );
    const bad = await cli(['calendar', 'nope', '--workflows', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no calendar "nope"');
    expect(bad.stderr).toContain('(there: business)');
  });
});

describe('rsqlo plan with a calendar', () => {
  it('shows next firings only on calendar days, and refuses a calendar it cannot find', async () => {
    const dir = folder({
      'daily/workflow.json': wf('daily', { schedule: 'cron(0 6 ? * * *)', calendar: 'sundays' }),
      'calendars/sundays.json': { weekdays: ['sun'] },
      'other/workflow.json': wf('other', { schedule: 'cron(0 6 ? * * *)', calendar: 'missing' }),
    });
    // Each workflow folder holds its scripts (scripts/a.sh, as its definition names it).
    for (const w of ['daily', 'other']) {
      mkdirSync(path.join(dir, w, 'scripts'), { recursive: true });
      writeFileSync(path.join(dir, w, 'scripts', 'a.sh'), '#!/bin/bash\nexit 0\n', { mode: 0o755 });
    }
    const r = await cli(['plan', path.join(dir, 'daily'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as { calendar: string; next_fire_times: string[] };
    expect(plan.calendar).toBe('sundays');
    expect(plan.next_fire_times).toHaveLength(5);
    for (const t of plan.next_fire_times) expect(new Date(t).getUTCDay(), t).toBe(0);
    const text = await cli(['plan', path.join(dir, 'daily')]);
    expect(text.stdout).toContain('calendar   sundays (the schedule fires on its days only)');
    const missing = await cli(['plan', path.join(dir, 'other')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('names calendar "missing", but there is no calendars/missing.json');
  });
});

describe('dependency cycles and unknown names when loading a folder', () => {
  const cyclic = () =>
    folder({
      'a.json': wf('wf_a', { trigger: { after: ['wf_b'] } }),
      'b.json': wf('wf_b', { trigger: { after: ['wf_a'] } }),
      'c.json': wf('wf_c', { trigger: { after: ['wf_zz'] } }),
    });

  it('rsqlo validate --workflows names the cycle and the unknown workflow', async () => {
    const r = await cli(['validate', '--workflows', cyclic()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'trigger.after: dependency cycle wf_a → wf_b → wf_a: each would wait for the other',
    );
    expect(r.stderr).toContain(
      'trigger.after[0]: names workflow "wf_zz", which is not among the loaded definitions',
    );
  });

  it('rsqlo validate of files refuses a cycle among them', async () => {
    const dir = cyclic();
    const r = await cli(['validate', path.join(dir, 'a.json'), path.join(dir, 'b.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rsqlo: dependency cycle wf_a → wf_b → wf_a');
  });

  it('rsqlo serve --workflows refuses to start', async () => {
    const dir = cyclic();
    const r = await cli([
      'serve',
      '--workflows',
      dir,
      '--home',
      path.join(dir, 'home'),
      '--port',
      '0',
      '--no-database',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('dependency cycle wf_a → wf_b → wf_a');
  });
});
