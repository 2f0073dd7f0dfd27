/**
 * The recent-alerts page of the web view (`/alerts`, and `/api/alerts` as JSON): every alert event
 * `rsqlo serve` saw since it started (failures, refused requests, SlaMissed, RunLongerThanUsual),
 * newest first, with what became of its `--notify-command`. Rendered on the server as plain HTML:
 * every value is escaped, and the page has no script (the view's CSP forbids inline ones anyway).
 */

/** One alert as the page lists it (runtime/local/notify-command.ts AlertRecord has this shape). */
export interface AlertView {
  event_id: string;
  detail_type: string;
  rule: string;
  workflow_id: string | null;
  workflow_execution_id: string | null;
  occurred_at: string;
  delivery: string;
  problem: string | null;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text for HTML (element content and quoted attribute values). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** The page: a table of alerts, each run linked to its page. */
export function alertsPage(alerts: readonly AlertView[]): string {
  const rows = alerts.map((a) => {
    const run = a.workflow_execution_id
      ? `<a href="/runs/${encodeURIComponent(a.workflow_execution_id)}">${escapeHtml(a.workflow_execution_id)}</a>`
      : '-';
    return `<tr><td>${escapeHtml(a.occurred_at)}</td><td>${escapeHtml(a.detail_type)}</td><td>${escapeHtml(a.workflow_id ?? '-')}</td><td>${run}</td><td>${escapeHtml(a.delivery)}${a.problem ? `: ${escapeHtml(a.problem)}` : ''}</td></tr>`;
  });
  const body =
    rows.length === 0
      ? '<p>No alerts since this server started.</p>'
      : `<table><thead><tr><th>time</th><th>alert</th><th>workflow</th><th>run</th><th>notify command</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rsqlo alerts</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/app.css"></head>
<body><main><h1>Recent alerts</h1><p><a href="/">All runs</a></p>${body}</main></body></html>
`;
}
