import type { ActionResult, PoolView, RunList, RunListPage, RunSummary } from '../../contracts/run-view.js';
import { elapsed, formatDuration } from '../shared/format.js';
import { statusTone } from '../theme.js';
import { append, badge, clear, h, keepFocus, link, time } from './dom.js';
import { getJson, live, postJson, ServerClock } from './live.js';

const STATUSES = ['Running', 'Completed', 'Failed', 'Cancelled'];

/** `/`: every run, newest first, filtered by workflow and status, live. */
export function runsPage(main: HTMLElement): void {
  document.title = 'Runs · rsqlo';
  const params = new URLSearchParams(location.search);
  const state = { workflow: params.get('workflow') ?? '', status: params.get('status') ?? '' };
  const clock = new ServerClock();
  let latest: RunListPage | undefined;
  let older: RunSummary[] = [];
  let olderNext: string | null = null;
  let stop: () => void = () => {};

  const wfSelect = h('select', { attrs: { id: 'f-workflow', name: 'workflow' } });
  const stSelect = h(
    'select',
    { attrs: { id: 'f-status', name: 'status' } },
    h('option', { attrs: { value: '' } }, 'any status'),
    ...STATUSES.map((s) => h('option', { attrs: { value: s } }, s)),
  );
  stSelect.value = state.status;
  const count = h('span', { class: 'meta', attrs: { 'aria-live': 'polite' } });
  const tableBody = h('tbody');
  const more = h('div', { class: 'more' });
  clear(main);
  append(
    main,
    h('h1', null, 'Runs'),
    h(
      'form',
      {
        class: 'filters',
        attrs: { role: 'search', 'aria-label': 'Filter runs' },
        on: { submit: (e) => e.preventDefault() },
      },
      h('label', { attrs: { for: 'f-workflow' } }, 'Workflow', wfSelect),
      h('label', { attrs: { for: 'f-status' } }, 'Status', stSelect),
      count,
    ),
    h(
      'table',
      { class: 'runs', attrs: { 'aria-label': 'Runs, newest first' } },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { attrs: { scope: 'col' } }, 'Status'),
          h('th', { attrs: { scope: 'col' } }, 'Run'),
          h('th', { class: 'narrow-hide', attrs: { scope: 'col' } }, 'Workflow'),
          h('th', { class: 'narrow-hide', attrs: { scope: 'col' } }, 'Started'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'Duration'),
          h('th', { class: 'num narrow-hide', attrs: { scope: 'col' } }, 'Jobs'),
        ),
      ),
      tableBody,
    ),
    more,
    poolsPanel(),
  );

  const onFilter = () => {
    state.workflow = wfSelect.value;
    state.status = stSelect.value;
    const q = query();
    history.replaceState(null, '', q ? `/?${q}` : '/');
    connect();
  };
  wfSelect.addEventListener('change', onFilter);
  stSelect.addEventListener('change', onFilter);

  function query(extra: Record<string, string> = {}): string {
    const p = new URLSearchParams();
    if (state.workflow) p.set('workflow', state.workflow);
    if (state.status) p.set('status', state.status);
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    return p.toString();
  }

  function connect(): void {
    stop();
    older = [];
    olderNext = null;
    latest = undefined;
    stop = live<RunListPage>(`/api/runs?${query({ live: '1' })}`, {
      snapshot: (page) => {
        clock.sync(page.now);
        latest = page;
        renderWorkflows(page.workflows);
        render();
      },
    });
  }

  function renderWorkflows(ids: string[]): void {
    const want = ['', ...ids];
    if (state.workflow && !ids.includes(state.workflow)) want.push(state.workflow);
    const have = [...wfSelect.options].map((o) => o.value);
    if (have.join('\n') === want.join('\n')) return;
    clear(wfSelect);
    for (const id of want) append(wfSelect, h('option', { attrs: { value: id } }, id || 'all workflows'));
    wfSelect.value = state.workflow;
  }

  function render(): void {
    if (!latest) return;
    const runs = [
      ...latest.runs,
      ...older.filter((o) => !latest?.runs.some((r) => r.workflow_execution_id === o.workflow_execution_id)),
    ];
    keepFocus(() => {
      clear(tableBody);
      if (runs.length === 0)
        append(
          tableBody,
          h('tr', null, h('td', { class: 'empty', attrs: { colspan: 6 } }, 'No runs match.')),
        );
      for (const r of runs) append(tableBody, row(r));
    });
    count.textContent = `${runs.length} run${runs.length === 1 ? '' : 's'} shown`;
    clear(more);
    const next = older.length > 0 ? olderNext : latest.next;
    if (next)
      append(
        more,
        h(
          'button',
          { attrs: { type: 'button', 'data-focus-key': 'more' }, on: { click: () => void loadMore(next) } },
          'Show older runs',
        ),
      );
  }

  async function loadMore(before: string): Promise<void> {
    const page = await getJson<RunList>(`/api/runs?${query({ before })}`);
    older = [...older, ...page.runs];
    olderNext = page.next;
    render();
  }

  function row(r: RunSummary): HTMLTableRowElement {
    const d = elapsed(r.execution_start_ts, r.execution_end_ts, clock.now());
    return h(
      'tr',
      { attrs: { 'data-run': r.workflow_execution_id } },
      h(
        'td',
        null,
        r.held ? badge('Held', 'waiting') : badge(r.execution_status, statusTone(r.execution_status)),
        r.cancel_requested && r.execution_status === 'Running' ? ' stopping' : '',
      ),
      h(
        'td',
        { class: 'mono' },
        link(['runs', r.workflow_execution_id], r.workflow_execution_id, {
          attrs: { 'data-focus-key': `run:${r.workflow_execution_id}` },
        }),
        r.restart_of ? h('div', { class: 'crumb' }, `restart of ${r.restart_of}`) : null,
      ),
      h('td', { class: 'narrow-hide' }, link(['workflows', r.workflow_id], r.workflow_id)),
      h('td', { class: 'narrow-hide' }, time(r.execution_start_ts)),
      h(
        'td',
        { class: 'num', attrs: r.execution_end_ts ? {} : { 'data-live-start': r.execution_start_ts } },
        d === null ? '–' : formatDuration(d),
      ),
      h('td', { class: 'num narrow-hide' }, `${r.counts.completed}/${r.counts.total}`),
    );
  }

  // Running runs' durations tick every second.
  setInterval(() => {
    for (const td of tableBody.querySelectorAll<HTMLElement>('[data-live-start]')) {
      const d = elapsed(td.getAttribute('data-live-start'), null, clock.now());
      if (d !== null) td.textContent = formatDuration(d);
    }
  }, 1000);

  connect();
}

/**
 * The pools panel: each pool's slots, slots in use and jobs waiting, and a field to set its
 * slots (a PoolResizeRequested; 0 drains). Hidden where pools are not available (404).
 */
function poolsPanel(): HTMLElement {
  const body = h('tbody');
  const note = h('p', { class: 'meta', attrs: { 'aria-live': 'polite' } });
  const panel = h(
    'section',
    { class: 'pools', attrs: { 'aria-labelledby': 'pools-title' } },
    h('h2', { attrs: { id: 'pools-title' } }, 'Pools'),
    h(
      'table',
      { attrs: { 'aria-label': 'Resource pools' } },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { attrs: { scope: 'col' } }, 'Pool'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'Slots'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'In use'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'Waiting'),
          h('th', { attrs: { scope: 'col' } }, 'Set slots'),
        ),
      ),
      body,
    ),
    note,
  );
  panel.hidden = true;
  const load = async () => {
    try {
      const r = await getJson<{ pools: PoolView[] }>('/api/pools');
      panel.hidden = false;
      clear(body);
      if (r.pools.length === 0) note.textContent = 'No pools yet: a job with "pool" creates its pool.';
      for (const p of r.pools) {
        const input = h('input', {
          attrs: {
            type: 'number',
            min: 0,
            max: 1000,
            value: String(p.slots),
            'aria-label': `Slots of ${p.pool}`,
          },
        }) as HTMLInputElement;
        const set = h(
          'button',
          {
            attrs: { type: 'button', 'data-pool': p.pool },
            on: {
              click: async () => {
                const r2 = await postJson<ActionResult & { error?: string }>(
                  `/api/pools/${encodeURIComponent(p.pool)}/slots`,
                  { slots: Number(input.value) },
                );
                note.textContent = r2.body.message ?? r2.body.error ?? String(r2.status);
                void load();
              },
            },
          },
          'Set',
        );
        append(
          body,
          h(
            'tr',
            null,
            h('td', null, p.pool),
            h('td', { class: 'num' }, String(p.slots)),
            h('td', { class: 'num' }, String(p.in_use)),
            h('td', { class: 'num' }, p.waiting ? badge('waiting', 'waiting', String(p.waiting)) : '0'),
            h('td', null, input, ' ', set),
          ),
        );
      }
    } catch {
      panel.hidden = true; // not available here
    }
  };
  void load();
  return panel;
}
