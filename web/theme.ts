/**
 * The run view's colours, in one place: the stylesheet is generated from them (web/styles.ts) and
 * web/theme.test.ts checks every pair a reader sees against WCAG 2.2 (text 4.5:1, large text and
 * graphical objects such as timeline bars and focus rings 3:1).
 */

/** A colour scheme: the page's colours and one colour per status. */
export interface Palette {
  bg: string;
  surface: string;
  text: string;
  muted: string;
  border: string;
  link: string;
  focus: string;
  /** Fill of the status badges and bars; white (`onStatus`) text is written on them. */
  status: Record<StatusTone, string>;
  onStatus: string;
  /** Background of the "longer than usual" mark and of warnings. */
  warnBg: string;
  warnText: string;
  /** Background and text of the log viewer. */
  logBg: string;
  logText: string;
}

/** Status groups that share a colour. */
export const STATUS_TONES = [
  'completed',
  'failed',
  'timedout',
  'cancelled',
  'running',
  'waiting',
  'skipped',
] as const;
export type StatusTone = (typeof STATUS_TONES)[number];

/** Which colour a job, stage or run status is shown in. */
export function statusTone(status: string): StatusTone {
  switch (status) {
    case 'Completed':
      return 'completed';
    case 'Failed':
      return 'failed';
    case 'TimedOut':
      return 'timedout';
    case 'Cancelled':
      return 'cancelled';
    case 'Running':
      return 'running';
    case 'Skipped':
      return 'skipped';
    default:
      return 'waiting';
  }
}

export const LIGHT: Palette = {
  bg: '#ffffff',
  surface: '#f6f8fa',
  text: '#1f2328',
  muted: '#59636e',
  border: '#d1d9e0',
  link: '#0550ae',
  focus: '#0550ae',
  status: {
    completed: '#1a7f37',
    failed: '#cf222e',
    timedout: '#a0410d',
    cancelled: '#59636e',
    running: '#0969da',
    waiting: '#8250df',
    skipped: '#6e7781',
  },
  onStatus: '#ffffff',
  warnBg: '#fff8c5',
  warnText: '#6b4400',
  logBg: '#1f2328',
  logText: '#f0f3f6',
};

export const DARK: Palette = {
  bg: '#0d1117',
  surface: '#161b22',
  text: '#e6edf3',
  muted: '#9198a1',
  border: '#3d444d',
  link: '#71b7ff',
  focus: '#71b7ff',
  status: {
    completed: '#2a8540',
    failed: '#d0303a',
    timedout: '#b5520f',
    cancelled: '#6a737d',
    running: '#1b6ad6',
    waiting: '#8957e5',
    skipped: '#6e7781',
  },
  onStatus: '#ffffff',
  warnBg: '#3b2e00',
  warnText: '#f2cc60',
  logBg: '#010409',
  logText: '#e6edf3',
};

/** WCAG relative luminance of an sRGB colour `#rrggbb`. */
export function luminance(hex: string): number {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => {
    const c = Number.parseInt(h as string, 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}
