/**
 * Building the page without markup strings: every value goes in as a text node or an attribute
 * value, so a job name, an error message or a log line can never become HTML. There is no
 * innerHTML anywhere in the client.
 */

type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  /** Attributes (values are set as text; `on…` handlers and `javascript:` URLs are refused). */
  attrs?: Record<string, string | number | boolean | null | undefined>;
  on?: { [K in keyof HTMLElementEventMap]?: (e: HTMLElementEventMap[K]) => void };
  style?: Partial<Record<'left' | 'width' | 'height' | 'bottom' | 'top', string>>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props?.class) el.className = props.class;
  if (props?.attrs) {
    for (const [k, v] of Object.entries(props.attrs)) {
      if (v === null || v === undefined || v === false) continue;
      setAttr(el, k, v === true ? '' : String(v));
    }
  }
  if (props?.on) {
    for (const [k, fn] of Object.entries(props.on)) el.addEventListener(k, fn as EventListener);
  }
  if (props?.style)
    for (const [k, v] of Object.entries(props.style)) if (v !== undefined) el.style.setProperty(k, v);
  append(el, ...children);
  return el;
}

export function setAttr(el: Element, name: string, value: string): void {
  if (/^on/i.test(name)) throw new Error(`refusing event handler attribute ${name}`);
  if ((name === 'href' || name === 'src') && !/^(\/(?!\/)|#|\?)/.test(value))
    throw new Error(`refusing non-local URL in ${name}`);
  el.setAttribute(name, value);
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A link inside the view; path segments are URI-encoded. */
export function link(path: string[], text: Child, props: Props = {}): HTMLAnchorElement {
  const href = `/${path.map(encodeURIComponent).join('/')}`;
  return h('a', { ...props, attrs: { ...props.attrs, href } }, text);
}

export function badge(status: string, tone: string, text?: string): HTMLSpanElement {
  return h('span', { class: `badge tone-${tone}`, attrs: { 'data-status': status } }, text ?? status);
}

export function time(iso: string | null): HTMLElement | string {
  if (!iso) return '–';
  const d = new Date(iso);
  return h('time', { attrs: { datetime: iso, title: iso } }, d.toLocaleString());
}

/** Restores keyboard focus after a re-render to the element with the same `data-focus-key`. */
export function keepFocus(render: () => void): void {
  const active = document.activeElement as HTMLElement | null;
  const key = active?.getAttribute('data-focus-key');
  render();
  if (key) {
    const again = document.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again && again !== document.activeElement) again.focus({ preventScroll: true });
  }
}
