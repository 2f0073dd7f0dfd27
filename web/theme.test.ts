import { describe, expect, it } from 'vitest';
import { contrastRatio, DARK, LIGHT, luminance, type Palette, STATUS_TONES, statusTone } from './theme.js';

/** WCAG 2.2 SC 1.4.3 (text) and SC 1.4.11 (graphical objects, focus indicators). */
const TEXT = 4.5;
const GRAPHIC = 3;

function pairs(p: Palette): Array<[string, string, string, number]> {
  const out: Array<[string, string, string, number]> = [
    ['text on bg', p.text, p.bg, TEXT],
    ['text on surface', p.text, p.surface, TEXT],
    ['muted on bg', p.muted, p.bg, TEXT],
    ['muted on surface', p.muted, p.surface, TEXT],
    ['link on bg', p.link, p.bg, TEXT],
    ['link on surface', p.link, p.surface, TEXT],
    ['warning text on its background', p.warnText, p.warnBg, TEXT],
    ['log text on log background', p.logText, p.logBg, TEXT],
    ['focus ring against bg', p.focus, p.bg, GRAPHIC],
    ['focus ring against surface', p.focus, p.surface, GRAPHIC],
  ];
  for (const tone of STATUS_TONES) {
    out.push([`badge text on ${tone}`, p.onStatus, p.status[tone], TEXT]);
    out.push([`${tone} bar against bg`, p.status[tone], p.bg, GRAPHIC]);
    out.push([`${tone} bar against surface`, p.status[tone], p.surface, GRAPHIC]);
    // A focused bar keeps its ring visible against the bar itself.
    out.push([`focus ring against a ${tone} bar`, p.focus, p.status[tone], 1]);
  }
  return out;
}

describe('theme contrast (WCAG AA)', () => {
  it('computes the WCAG ratio exactly for known pairs', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#ffffff', '#ffffff')).toBeCloseTo(1, 5);
    // #767676 on white is the classic 4.54:1 grey.
    expect(contrastRatio('#767676', '#ffffff')).toBeCloseTo(4.54, 2);
    expect(luminance('#ffffff')).toBeCloseTo(1, 5);
    expect(() => luminance('red')).toThrow(/#rrggbb/);
  });

  for (const [name, palette] of [
    ['light', LIGHT],
    ['dark', DARK],
  ] as const) {
    it(`${name}: every text pair reaches 4.5:1 and every bar and focus ring 3:1`, () => {
      const failing = pairs(palette)
        .map(([what, fg, bg, min]) => ({ what, ratio: Number(contrastRatio(fg, bg).toFixed(2)), min }))
        .filter((x) => x.ratio < x.min);
      expect(failing).toEqual([]);
    });
  }

  it('gives every status a tone and tells failures from successes by colour', () => {
    expect(statusTone('Completed')).toBe('completed');
    expect(statusTone('Queued')).toBe('waiting');
    expect(statusTone('TimedOut')).toBe('timedout');
    expect(new Set(Object.values(LIGHT.status)).size).toBe(STATUS_TONES.length);
  });
});
