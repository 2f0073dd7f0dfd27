import type {
  ActionResult,
  ActionState,
  JobAttemptView,
  JobView,
  LogEvent,
  RunPage,
} from '../../contracts/run-view.js';
import { elapsed, formatDuration, stripAnsi } from '../shared/format.js';
import { type GanttLayout, ganttLayout } from '../shared/gantt.js';
import { statusTone } from '../theme.js';
import { append, badge, clear, h, keepFocus, link, time } from './dom.js';
import { live, postJson, ServerClock } from './live.js';

/** Most log lines kept on the page; older ones are dropped (the tail and follow stay exact). */
const MAX_LOG_LINES = 5000;

interface Selection {
  job: string;
  attempt: number;
}

function readHash(): Selection | undefined {
  const p = new URLSearchParams(location.hash.slice(1));
  const job = p.get('job');
  const attempt = Number(p.get('attempt'));
  return job && /^\d+\.\d+$/.test(job)
    ? { job, attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 0 }
    : undefined;
}

/** `/runs/<id>`: the run's timeline, its jobs, their logs, and the actions. */
export function runPage(main: HTMLElement, exec: string): void {
  document.title = `${exec} · rsqlo`;
  const clock = new ServerClock();
  let page: RunPage | undefined;
  let layout: GanttLayout | undefined;
  let selected = readHash();
  let logFor = '';
  let stopLog: () => void = () => {};

  const head = h('div');
  const status = h('p', { class: 'status-line', attrs: { role: 'status', 'aria-live': 'polite' } });
  const gantt = h('section', {
    class: 'gantt',
    attrs: { 'aria-label': 'Timeline: one bar per job attempt' },
  });
  const jobPanel = h('section', { class: 'panel', attrs: { 'aria-label': 'Selected job', hidden: true } });
  const jobInfo = h('div');
  const logPanel = h('div');
  append(jobPanel, jobInfo, logPanel);
  const dialog = h('dialog', { attrs: { 'aria-labelledby': 'confirm-title' } });
  clear(main);
  append(
    main,
    head,
    status,
    gantt,
    h('p', { class: 'crumb' }, 'Tab or arrow keys move between bars; Enter shows a job and its log.'),
    jobPanel,
    dialog,
  );

  gantt.addEventListener('keydown', (e) => navigate(e));

  live<RunPage>(`/api/runs/${encodeURIComponent(exec)}?live=1`, {
    snapshot: (p) => {
      clock.sync(p.now);
      page = p;
      render();
    },
    missing: () => {
      clear(head);
      append(head, h('h1', null, `No run ${exec}`), h('p', null, link([], 'All runs')));
    },
  });

  function render(): void {
    if (!page) return;
    const p = page;
    keepFocus(() => {
      renderHead(p);
      layout = ganttLayout(p, clock.now());
      renderGantt(p, layout);
      renderJob(p);
    });
  }

  function renderHead(p: RunPage): void {
    const r = p.run;
    const d = elapsed(r.execution_start_ts, r.execution_end_ts, clock.now());
    clear(head);
    append(
      head,
      h(
        'div',
        { class: 'crumb' },
        link([], 'Runs'),
        ' / ',
        link(['workflows', r.workflow_id], r.workflow_id),
      ),
      h(
        'h1',
        null,
        r.workflow_execution_id,
        ' ',
        r.held ? badge('Held', 'waiting') : badge(r.execution_status, statusTone(r.execution_status)),
      ),
      h(
        'div',
        { class: 'meta' },
        h('span', null, 'started ', time(r.execution_start_ts)),
        r.execution_end_ts ? h('span', null, 'ended ', time(r.execution_end_ts)) : null,
        h(
          'span',
          null,
          'duration ',
          h('b', { attrs: { id: 'run-duration' } }, d === null ? '–' : formatDuration(d)),
        ),
        h('span', null, `${r.counts.completed}/${r.counts.total} jobs completed`),
        r.counts.failed ? h('span', null, `${r.counts.failed} failed`) : null,
        r.counts.timed_out ? h('span', null, `${r.counts.timed_out} timed out`) : null,
        r.restart_of ? h('span', null, 'restart of ', link(['runs', r.restart_of], r.restart_of)) : null,
        ...p.restarted_as.map((x) => h('span', null, 'restarted as ', link(['runs', x], x))),
        r.cancel_requested && r.execution_status === 'Running'
          ? h('span', { class: 'warn' }, 'kill requested: stopping')
          : null,
        r.held && r.hold_state
          ? h(
              'span',
              { class: 'warn' },
              `held by ${r.hold_state.requested_by}${r.hold_state.reason ? ` (${r.hold_state.reason})` : ''}: no new job starts until freed`,
            )
          : null,
      ),
      r.workflow_description ? h('p', null, r.workflow_description) : null,
      actionsBar(p.actions),
    );
  }

  function actionsBar(actions: ActionState[], job?: JobView): HTMLElement {
    const bar = h('div', {
      class: 'actions',
      attrs: { role: 'group', 'aria-label': job ? `Actions on job ${job.job_key}` : 'Actions' },
    });
    for (const a of actions) {
      const id = `why-${a.name}${job ? `-${job.job_key}` : ''}`;
      append(
        bar,
        h(
          'button',
          {
            class: a.name === 'kill' ? 'danger' : 'primary',
            attrs: {
              type: 'button',
              'data-action': a.name,
              'data-focus-key': `action:${a.name}${job ? `:${job.job_key}` : ''}`,
              disabled: !a.available,
              'aria-describedby': a.available ? null : id,
            },
            on: { click: () => confirmAction(a, job) },
          },
          a.label,
        ),
        a.available ? null : h('span', { class: 'why', attrs: { id } }, `${a.label}: ${a.reason}`),
      );
    }
    return bar;
  }

  function confirmAction(a: ActionState, job?: JobView): void {
    clear(dialog);
    // Set OK and bypass ask why (kept in the audit with who asked); the others may say why.
    const reason = h('textarea', {
      attrs: {
        id: 'action-reason',
        maxlength: 1024,
        rows: 2,
        required: a.needs_reason,
        placeholder: a.needs_reason ? 'why (required, kept in the audit)' : 'why (optional)',
      },
    }) as HTMLTextAreaElement;
    const showReason = a.scope === 'job' || a.name === 'hold' || a.name === 'free';
    const cancel = h(
      'button',
      { attrs: { type: 'button', autofocus: true }, on: { click: () => dialog.close() } },
      'Cancel',
    );
    const go = h(
      'button',
      {
        class: a.name === 'kill' ? 'danger' : 'primary',
        attrs: { type: 'button', 'data-confirm': a.name },
        on: {
          click: () => {
            const why = reason.value.trim();
            if (a.needs_reason && !why) {
              reason.focus();
              return;
            }
            void doAction(a, job, why || undefined);
          },
        },
      },
      a.label,
    );
    append(
      dialog,
      h('h2', { attrs: { id: 'confirm-title' } }, `${a.label} ${job ? `job ${job.job_key}` : 'this run'}?`),
      h('p', null, a.confirm),
      showReason ? h('label', { attrs: { for: 'action-reason' } }, 'Reason') : null,
      showReason ? reason : null,
      h('div', { class: 'buttons' }, cancel, go),
    );
    dialog.showModal();
    cancel.focus();
  }

  async function doAction(a: ActionState, job?: JobView, reason?: string): Promise<void> {
    dialog.close();
    status.textContent = `${a.label}: asking the engine…`;
    try {
      const r = await postJson<ActionResult & { error?: string }>(
        `/api/runs/${encodeURIComponent(exec)}/actions/${a.name}`,
        { ...(job ? { job_key: job.job_key } : {}), ...(reason ? { reason } : {}) },
      );
      clear(status);
      append(status, r.body.message ?? r.body.error ?? `${r.status}`);
      if (r.body.execution_id)
        append(status, ' ', link(['runs', r.body.execution_id], `open ${r.body.execution_id}`));
    } catch (err) {
      status.textContent = `${a.label} failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  function renderGantt(p: RunPage, g: GanttLayout): void {
    clear(gantt);
    const axis = h(
      'div',
      { class: 'g-row g-axis', attrs: { 'aria-hidden': 'true' } },
      h('div', { class: 'g-label' }, 'elapsed'),
      axisTrack(g),
    );
    append(gantt, axis);
    for (const row of g.rows) {
      if (row.kind === 'stage') {
        const st = p.stages.find((s) => s.stage === row.stage);
        append(
          gantt,
          h(
            'div',
            { class: 'g-row g-stage' },
            h(
              'div',
              { class: 'g-label' },
              h(
                'span',
                { class: 'g-name' },
                `Stage ${row.stage} · ${row.executionType}${st?.enabled === false ? ' · disabled' : ''}${row.description ? ` — ${row.description}` : ''}`,
              ),
              badge(row.status, statusTone(row.status)),
            ),
            h(
              'div',
              { class: 'g-track' },
              row.bar
                ? h('div', {
                    class: `g-stagebar tone-${statusTone(row.status)}`,
                    attrs: { 'data-stage-bar': row.stage },
                    style: { left: `${row.bar.leftPct}%`, width: `${row.bar.widthPct}%` },
                  })
                : null,
            ),
          ),
        );
        continue;
      }
      const job = p.jobs.find((j) => j.job_key === row.jobKey) as JobView;
      const isSel = selected?.job === row.jobKey;
      const track = h('div', { class: 'g-track' });
      for (const b of row.bars) {
        const a = job.attempts.find((x) => x.attempt === b.attempt) as JobAttemptView;
        const label = `${job.job_key} ${job.job_name}, attempt ${b.attempt} of ${job.max_attempts}: ${b.status}, ${formatDuration(b.end - b.start)}${a.exit_code !== null && a.exit_code !== 0 ? `, exit ${a.exit_code}` : ''}`;
        append(
          track,
          h(
            'button',
            {
              class: `bar tone-${statusTone(b.status)}${b.running ? ' running' : ''}`,
              attrs: {
                type: 'button',
                'data-job': job.job_key,
                'data-attempt': b.attempt,
                'data-status': b.status,
                'data-focus-key': `bar:${job.job_key}:${b.attempt}`,
                'aria-label': label,
                'aria-pressed': String(isSel && selectedAttempt(job) === b.attempt),
                title: label,
              },
              style: { left: `${b.leftPct}%`, width: `${b.widthPct}%` },
              on: { click: () => select(job.job_key, b.attempt) },
            },
            row.bars.length > 1 ? `#${b.attempt}` : '',
          ),
        );
      }
      const waiting =
        row.bars.length === 0 || job.attempts[job.attempts.length - 1]?.execution_start_ts === null
          ? waitingText(job)
          : null;
      if (waiting) append(track, h('span', { class: 'crumb', style: { left: '0' } }, waiting));
      append(
        gantt,
        h(
          'div',
          { class: 'g-row', attrs: { 'data-row': job.job_key, 'data-status': job.execution_status } },
          h(
            'div',
            { class: 'g-label' },
            h(
              'button',
              {
                class: 'job-btn',
                attrs: {
                  type: 'button',
                  'data-focus-key': `job:${job.job_key}`,
                  'aria-pressed': String(isSel),
                  title: `${job.job_key} ${job.job_name}`,
                },
                on: { click: () => select(job.job_key, job.attempt) },
              },
              `${job.job_key} ${job.job_name}`,
            ),
            badge(job.execution_status, statusTone(job.execution_status)),
            job.attempt > 1 ? h('span', { class: 'crumb' }, `try ${job.attempt}/${job.max_attempts}`) : null,
          ),
          track,
        ),
      );
    }
  }

  function waitingText(job: JobView): string | null {
    if (job.execution_status === 'Queued' && job.waiting_for)
      return job.waiting_for === 'hold'
        ? 'held'
        : `waiting for pool ${job.waiting_for.slice('pool:'.length)}`;
    if (job.execution_status === 'Skipped') return job.skip_reason ?? 'skipped';
    if (job.not_before && job.execution_status === 'Pending')
      return `retry after ${new Date(job.not_before).toLocaleTimeString()}`;
    if (['Pending', 'Queued', 'Dispatched'].includes(job.execution_status))
      return job.execution_status.toLowerCase();
    return null;
  }

  function axisTrack(g: GanttLayout): HTMLElement {
    const t = h('div', { class: 'g-track' });
    for (const tick of g.ticks)
      append(
        t,
        h(
          'span',
          { class: 'tick', style: { left: `${tick.leftPct}%` } },
          formatDuration(tick.offset).replace(' 00 s', '').replace('0 ms', '0'),
        ),
      );
    return t;
  }

  function selectedAttempt(job: JobView): number {
    const want = selected?.attempt ?? 0;
    return job.attempts.some((a) => a.attempt === want) ? want : job.attempt;
  }

  function select(jobKey: string, attempt: number): void {
    selected = { job: jobKey, attempt };
    history.replaceState(null, '', `#job=${encodeURIComponent(jobKey)}&attempt=${attempt}`);
    render();
    jobPanel.scrollIntoView({ block: 'nearest' });
  }

  function renderJob(p: RunPage): void {
    const job = selected ? p.jobs.find((j) => j.job_key === selected?.job) : undefined;
    if (!job) {
      jobPanel.hidden = true;
      return;
    }
    jobPanel.hidden = false;
    const attempt = selectedAttempt(job);
    clear(jobInfo);
    append(
      jobInfo,
      h(
        'h2',
        { attrs: { id: 'job-title' } },
        `${job.job_key} ${job.job_name} `,
        badge(job.execution_status, statusTone(job.execution_status)),
      ),
      h(
        'div',
        { class: 'meta' },
        h('span', null, `attempt ${job.attempt} of ${job.max_attempts}`),
        h('span', null, `timeout ${formatDuration(job.timeout_seconds * 1000)}`),
        job.args.length ? h('span', { class: 'mono' }, `args: ${job.args.join(' ')}`) : null,
        job.skip_reason ? h('span', null, job.skip_reason) : null,
        job.execution_status === 'Queued' && job.waiting_for
          ? h('span', { class: 'warn' }, waitingText(job))
          : null,
        ...(job.operator_actions ?? []).map((o) =>
          h(
            'span',
            null,
            `${o.action.replace('_', ' ')} by ${o.requested_by} at ${new Date(o.applied_at).toLocaleString()}${o.reason ? `: ${o.reason}` : ''}`,
          ),
        ),
      ),
      job.actions?.length ? actionsBar(job.actions, job) : null,
      attemptsTable(job, attempt),
    );
    const key = `${job.job_key}/${attempt}`;
    const a = job.attempts.find((x) => x.attempt === attempt) as JobAttemptView;
    if (key !== logFor) {
      logFor = key;
      openLog(job, a);
    }
  }

  function attemptsTable(job: JobView, current: number): HTMLElement {
    const body = h('tbody');
    for (const a of job.attempts) {
      const d = elapsed(a.execution_start_ts, a.execution_end_ts, clock.now());
      append(
        body,
        h(
          'tr',
          { attrs: { 'data-attempt-row': a.attempt, 'aria-current': a.attempt === current ? 'true' : null } },
          h(
            'td',
            null,
            h(
              'button',
              {
                class: 'job-btn',
                attrs: {
                  type: 'button',
                  'data-focus-key': `attempt:${job.job_key}:${a.attempt}`,
                  'aria-pressed': String(a.attempt === current),
                },
                on: { click: () => select(job.job_key, a.attempt) },
              },
              `#${a.attempt}`,
            ),
          ),
          h('td', null, badge(a.execution_status, statusTone(a.execution_status))),
          h('td', { class: 'narrow-hide' }, time(a.execution_start_ts)),
          h('td', { class: 'num' }, d === null ? '–' : formatDuration(d)),
          h('td', { class: 'num' }, a.exit_code === null ? '–' : String(a.exit_code)),
          h(
            'td',
            null,
            a.error_message
              ? h('div', { class: 'error', attrs: { 'data-error': a.attempt } }, a.error_message)
              : '–',
          ),
        ),
      );
    }
    return h(
      'table',
      { attrs: { 'aria-label': 'Attempts' } },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { attrs: { scope: 'col' } }, 'Attempt'),
          h('th', { attrs: { scope: 'col' } }, 'Status'),
          h('th', { class: 'narrow-hide', attrs: { scope: 'col' } }, 'Started'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'Duration'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'Exit'),
          h('th', { attrs: { scope: 'col' } }, 'Error'),
        ),
      ),
      body,
    );
  }

  function openLog(job: JobView, a: JobAttemptView): void {
    stopLog();
    clear(logPanel);
    const pre = h('pre', {
      class: 'log',
      attrs: {
        tabindex: '0',
        'aria-label': `Log of ${job.job_key} ${job.job_name}, attempt ${a.attempt}`,
        'data-log': `${job.job_key}:${a.attempt}`,
      },
    });
    const tailSel = h(
      'select',
      { attrs: { id: 'log-tail' } },
      ...['100', '200', '1000', 'all'].map((v) =>
        h('option', { attrs: { value: v } }, v === 'all' ? 'whole log' : `last ${v} lines`),
      ),
    );
    tailSel.value = '200';
    const followBox = h('input', { attrs: { type: 'checkbox', id: 'log-follow', checked: true } });
    const state = h('span', { class: 'crumb', attrs: { 'data-log-state': '' } });
    append(
      logPanel,
      h(
        'div',
        { class: 'log-bar' },
        h('h3', null, `Log, attempt ${a.attempt}`),
        h('label', { attrs: { for: 'log-tail' } }, 'Show ', tailSel),
        h('label', { attrs: { for: 'log-follow' } }, followBox, 'Follow'),
        state,
      ),
      pre,
    );
    const start = () => {
      stopLog();
      clear(pre);
      if (!a.has_log) {
        state.textContent = 'this attempt has no log';
        return;
      }
      const url = `/api/runs/${encodeURIComponent(exec)}/jobs/${encodeURIComponent(job.job_key)}/attempts/${a.attempt}/log?tail=${tailSel.value}${followBox.checked ? '&follow=1' : ''}`;
      const es = new EventSource(url);
      let lines = 0;
      state.textContent = followBox.checked ? 'following…' : 'loading…';
      const write = (text: string, cls?: string) => {
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        append(pre, cls ? h('span', { class: cls }, text) : text);
        while (lines > MAX_LOG_LINES && pre.firstChild) {
          const t = pre.firstChild.textContent ?? '';
          lines -= t.split('\n').length - 1;
          pre.removeChild(pre.firstChild);
        }
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      };
      es.addEventListener('lines', (e) => {
        const ev = JSON.parse((e as MessageEvent<string>).data) as Extract<LogEvent, { kind: 'lines' }>;
        lines += ev.lines.length;
        write(`${ev.lines.map(stripAnsi).join('\n')}\n`);
      });
      es.addEventListener('notice', (e) => {
        const ev = JSON.parse((e as MessageEvent<string>).data) as Extract<LogEvent, { kind: 'notice' }>;
        write(`— ${ev.message} —\n`, 'notice');
      });
      es.addEventListener('end', (e) => {
        const ev = JSON.parse((e as MessageEvent<string>).data) as Extract<LogEvent, { kind: 'end' }>;
        es.close();
        state.textContent =
          ev.reason === 'finished'
            ? 'end of log'
            : ev.reason === 'missing'
              ? 'no log'
              : ev.reason === 'not_started'
                ? 'not started yet'
                : 'end of what is written so far';
        state.setAttribute('data-log-state', ev.reason);
      });
      stopLog = () => es.close();
    };
    tailSel.addEventListener('change', start);
    followBox.addEventListener('change', start);
    start();
  }

  /** Up/Down move between job rows, Left/Right between the attempts of one row. */
  function navigate(e: KeyboardEvent): void {
    const t = e.target as HTMLElement;
    const key = t.getAttribute('data-focus-key') ?? '';
    if (
      !/^(bar|job):/.test(key) ||
      !['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)
    )
      return;
    const rows = [...gantt.querySelectorAll<HTMLElement>('.g-row[data-row]')];
    const row = t.closest<HTMLElement>('.g-row[data-row]');
    const i = row ? rows.indexOf(row) : -1;
    const stops = (r: HTMLElement | undefined) =>
      r ? [...r.querySelectorAll<HTMLElement>('.job-btn, .bar')] : [];
    let target: HTMLElement | undefined;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const next = rows[i + (e.key === 'ArrowDown' ? 1 : -1)];
      const here = stops(row ?? undefined).indexOf(t);
      const there = stops(next);
      target = there[Math.min(here, there.length - 1)] ?? there[0];
    } else if (e.key === 'Home' || e.key === 'End') {
      const all = stops(row ?? undefined);
      target = e.key === 'Home' ? all[0] : all[all.length - 1];
    } else {
      const all = stops(row ?? undefined);
      target = all[all.indexOf(t) + (e.key === 'ArrowRight' ? 1 : -1)];
    }
    if (target) {
      e.preventDefault();
      target.focus();
    }
  }

  // Running bars grow and durations tick, between snapshots, from the server's clock.
  setInterval(() => {
    if (page?.run.execution_status !== 'Running') return;
    const g = ganttLayout(page, clock.now());
    layout = g;
    for (const row of g.rows) {
      if (row.kind !== 'job') continue;
      for (const b of row.bars) {
        const el = gantt.querySelector<HTMLElement>(`.bar[data-focus-key="bar:${row.jobKey}:${b.attempt}"]`);
        if (!el) continue;
        el.style.left = `${b.leftPct}%`;
        el.style.width = `${b.widthPct}%`;
      }
    }
    for (const st of g.rows)
      if (st.kind === 'stage' && st.bar) {
        const el = gantt.querySelector<HTMLElement>(`[data-stage-bar="${st.stage}"]`);
        if (el) {
          el.style.left = `${st.bar.leftPct}%`;
          el.style.width = `${st.bar.widthPct}%`;
        }
      }
    const axis = gantt.querySelector('.g-axis');
    if (axis?.lastChild) axis.replaceChild(axisTrack(g), axis.lastChild);
    const d = elapsed(page.run.execution_start_ts, null, clock.now());
    const dur = document.getElementById('run-duration');
    if (dur && d !== null) dur.textContent = formatDuration(d);
  }, 500);
}
