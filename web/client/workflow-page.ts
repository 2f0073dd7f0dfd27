import type { RunSummary, WorkflowPage } from '../../contracts/run-view.js';
import { isLongerThanUsual, LONGER_FACTOR, usualDuration } from '../shared/durations.js';
import { elapsed, formatDuration } from '../shared/format.js';
import { STATUS_TONES, statusTone } from '../theme.js';
import { append, badge, clear, h, keepFocus, link, time } from './dom.js';
import { live, ServerClock } from './live.js';

/** Runs shown in the durations chart (the most recent). */
const CHART_RUNS = 60;

/** `/workflows/<id>`: its history with a durations chart, and its definition. */
export function workflowPage(main: HTMLElement, workflowId: string): void {
  document.title = `${workflowId} · rsqlo`;
  const clock = new ServerClock();
  let page: WorkflowPage | undefined;
  const body = h('div');
  clear(main);
  append(main, h('div', { class: 'crumb' }, link([], 'Runs')), h('h1', null, workflowId), body);

  live<WorkflowPage>(`/api/workflows/${encodeURIComponent(workflowId)}?live=1`, {
    snapshot: (p) => {
      clock.sync(p.now);
      page = p;
      keepFocus(render);
    },
    missing: () => {
      clear(body);
      append(body, h('p', { class: 'empty' }, 'No runs and no definition of this workflow yet.'));
    },
  });

  function render(): void {
    if (!page) return;
    const p = page;
    const now = clock.now();
    const usual = usualDuration(p.history);
    clear(body);
    if (p.workflow_description) append(body, h('p', null, p.workflow_description));
    append(
      body,
      h(
        'div',
        { class: 'meta' },
        h(
          'span',
          null,
          h('b', null, String(p.history.length)),
          ` run${p.history.length === 1 ? '' : 's'} shown`,
        ),
        usual.median !== null
          ? h(
              'span',
              null,
              'usual duration ',
              h('b', { attrs: { 'data-usual': String(usual.median) } }, formatDuration(usual.median)),
              ` (median of the last ${usual.samples} completed runs)`,
            )
          : h('span', null, `the usual duration needs ${3} completed runs`),
        usual.threshold !== null
          ? h('span', null, `longer than usual: over ${formatDuration(usual.threshold)} (${LONGER_FACTOR}×)`)
          : null,
        h(
          'span',
          null,
          link([], 'all its runs', { attrs: { href: `/?workflow=${encodeURIComponent(p.workflow_id)}` } }),
        ),
      ),
      h('h2', { attrs: { id: 'chart-title' } }, 'Durations'),
      chart(p.history, usual, now),
      legend(),
      h('h2', null, 'History'),
      historyTable(p.history, usual, now),
      h('h2', null, 'Definition'),
      definition(p),
    );
  }

  function chart(history: RunSummary[], usual: ReturnType<typeof usualDuration>, now: number): HTMLElement {
    const runs = history.slice(0, CHART_RUNS).reverse();
    const ds = runs.map((r) => elapsed(r.execution_start_ts, r.execution_end_ts, now) ?? 0);
    const max = Math.max(1, ...ds, usual.median ?? 0);
    const wrap = h('div', { class: 'chart-wrap' });
    const bars = h('div', { class: 'chart', attrs: { role: 'list', 'aria-labelledby': 'chart-title' } });
    runs.forEach((r, i) => {
      const d = ds[i] as number;
      const longer = isLongerThanUsual(r, usual, now);
      const label = `${r.workflow_execution_id}: ${r.execution_status}, ${formatDuration(d)}${r.execution_end_ts ? '' : ' so far'}${longer ? ', longer than usual' : ''}`;
      append(
        bars,
        h(
          'div',
          { attrs: { role: 'listitem' }, style: { height: '100%' }, class: 'cbar-slot' },
          link(['runs', r.workflow_execution_id], h('span', { class: 'sr-only' }, label), {
            class: `cbar tone-${statusTone(r.execution_status)}${longer ? ' longer' : ''}`,
            attrs: {
              title: label,
              'data-focus-key': `cbar:${r.workflow_execution_id}`,
              'data-longer': longer ? 'true' : null,
            },
            style: { height: `${Math.max(2, (d / max) * 100)}%` },
          }),
        ),
      );
    });
    append(wrap, bars);
    if (usual.median !== null) {
      // The chart area is the wrap minus its top padding (16 px); the line sits at the median's height.
      append(
        wrap,
        h(
          'div',
          {
            class: 'median',
            attrs: { 'aria-hidden': 'true' },
            style: { bottom: `calc((100% - 16px) * ${usual.median / max})` },
          },
          h('span', null, `usual ${formatDuration(usual.median)}`),
        ),
      );
    }
    return wrap;
  }

  function legend(): HTMLElement {
    const l = h('div', { class: 'legend', attrs: { 'aria-hidden': 'true' } });
    const names: Record<string, string> = {
      completed: 'Completed',
      failed: 'Failed',
      cancelled: 'Cancelled',
      running: 'Running',
    };
    for (const t of STATUS_TONES)
      if (names[t]) append(l, h('span', null, h('i', { class: `tone-${t}` }), names[t]));
    append(l, h('span', null, 'dark top edge: longer than usual'));
    return l;
  }

  function historyTable(
    history: RunSummary[],
    usual: ReturnType<typeof usualDuration>,
    now: number,
  ): HTMLElement {
    if (history.length === 0) return h('p', { class: 'empty' }, 'No runs yet.');
    const tbody = h('tbody');
    for (const r of history) {
      const d = elapsed(r.execution_start_ts, r.execution_end_ts, now);
      append(
        tbody,
        h(
          'tr',
          null,
          h('td', null, badge(r.execution_status, statusTone(r.execution_status))),
          h(
            'td',
            { class: 'mono' },
            link(['runs', r.workflow_execution_id], r.workflow_execution_id, {
              attrs: { 'data-focus-key': `run:${r.workflow_execution_id}` },
            }),
          ),
          h('td', { class: 'narrow-hide' }, time(r.execution_start_ts)),
          h(
            'td',
            { class: 'num' },
            d === null ? '–' : formatDuration(d),
            isLongerThanUsual(r, usual, now)
              ? h('div', null, h('span', { class: 'warn' }, 'longer than usual'))
              : null,
          ),
          h('td', { class: 'num narrow-hide' }, `${r.counts.completed}/${r.counts.total}`),
        ),
      );
    }
    return h(
      'table',
      { attrs: { 'aria-label': 'History, newest first' } },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { attrs: { scope: 'col' } }, 'Status'),
          h('th', { attrs: { scope: 'col' } }, 'Run'),
          h('th', { class: 'narrow-hide', attrs: { scope: 'col' } }, 'Started'),
          h('th', { class: 'num', attrs: { scope: 'col' } }, 'Duration'),
          h('th', { class: 'num narrow-hide', attrs: { scope: 'col' } }, 'Jobs'),
        ),
      ),
      tbody,
    );
  }

  function definition(p: WorkflowPage): HTMLElement {
    if (!p.definition) return h('p', { class: 'empty' }, 'The definition is not stored here.');
    const def = p.definition.definition as { workflow_stages?: Array<Record<string, unknown>> };
    const list = h('ol');
    for (const st of def.workflow_stages ?? []) {
      const scripts = Array.isArray(st.scripts) ? st.scripts : [];
      const names = scripts.map((s) =>
        typeof s === 'string'
          ? s
          : typeof s === 'object' && s && 'script' in s
            ? String((s as { script: unknown }).script)
            : '?',
      );
      append(
        list,
        h(
          'li',
          null,
          `${String(st.execution_type ?? '')}${String(st.execution_flag ?? 'y').toLowerCase() === 'n' ? ' (disabled)' : ''}`,
          typeof st.stage_description === 'string' ? ` — ${st.stage_description}` : '',
          ': ',
          h('span', { class: 'mono' }, names.join(', ')),
        ),
      );
    }
    return h(
      'div',
      null,
      h(
        'div',
        { class: 'meta' },
        p.definition.updated_at ? h('span', null, 'stored ', time(p.definition.updated_at)) : null,
        p.definition.script_root
          ? h('span', { class: 'mono' }, `scripts in ${p.definition.script_root}`)
          : null,
      ),
      list,
      h(
        'pre',
        { class: 'def', attrs: { tabindex: '0', 'aria-label': 'Definition JSON' } },
        JSON.stringify(p.definition.definition, null, 2),
      ),
    );
  }

  setInterval(() => {
    if (page?.history.some((r) => r.execution_status === 'Running')) keepFocus(render);
  }, 2000);
}
