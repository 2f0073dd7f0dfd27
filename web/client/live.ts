/** The connection indicator in the header, shared by every live stream of the page. */
function indicator(state: 'live' | 'connecting' | 'offline', text: string): void {
  const el = document.getElementById('live');
  if (!el) return;
  el.setAttribute('data-state', state);
  if (el.textContent !== text) el.textContent = text;
}

export interface LiveHandlers<T> {
  snapshot(data: T): void;
  missing?(): void;
}

/**
 * Subscribes to a live view (server-sent events): the server sends the data at once and again on
 * every change. EventSource reconnects by itself; the header says when the view is not live.
 */
export function live<T>(url: string, on: LiveHandlers<T>): () => void {
  const es = new EventSource(url);
  indicator('connecting', 'connecting…');
  es.addEventListener('open', () => indicator('live', 'live'));
  es.addEventListener('error', () => indicator('offline', 'reconnecting…'));
  es.addEventListener('snapshot', (e) => {
    indicator('live', 'live');
    on.snapshot(JSON.parse((e as MessageEvent<string>).data) as T);
  });
  es.addEventListener('missing', () => on.missing?.());
  es.addEventListener('problem', (e) => {
    const { message } = JSON.parse((e as MessageEvent<string>).data) as { message: string };
    indicator('offline', message);
  });
  return () => es.close();
}

/** Server time minus browser time, so durations and growing bars use the server's clock. */
export class ServerClock {
  private offset = 0;
  sync(serverNow: string): void {
    const t = Date.parse(serverNow);
    if (!Number.isNaN(t)) this.offset = t - Date.now();
  }
  now(): number {
    return Date.now() + this.offset;
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { headers: { accept: 'application/json' } });
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `${r.status} ${r.statusText}`);
  return body;
}

export async function postJson<T>(url: string, body: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as T };
}
