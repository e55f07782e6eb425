/**
 * Advance widths (1/1000 em) of printable ASCII in the fonts figures are exported with:
 * Tinos (serif, metric-compatible with Times) and Arimo (sans, with Arial). Measured once
 * from the TTFs the exporters embed, so figure layout is exact without loading a font.
 */
import type { ExportPreset } from './model';

const SERIF = [
  250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 278,
  278, 564, 564, 564, 444, 921, 722, 667, 667, 722, 611, 556, 722, 722, 333, 389, 722, 611, 889, 722, 722, 556, 722, 667, 556, 611, 722,
  722, 944, 722, 722, 611, 333, 278, 333, 469, 500, 333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500, 500,
  500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541,
];
const SANS = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278,
  278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722,
  667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556,
  556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/** The font files' family names, as SVG font-family and the PDF's embedded font name. */
export const FONT_FAMILY: Record<ExportPreset['fontFamily'], string> = { serif: 'Tinos', 'sans-serif': 'Arimo' };

/** Width in points of `text` set at `sizePt` (characters outside ASCII count as an average digit). */
export function textWidth(text: string, sizePt: number, family: ExportPreset['fontFamily']): number {
  const table = family === 'serif' ? SERIF : SANS;
  let w = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    w += c >= 32 && c < 127 ? table[c - 32]! : 560;
  }
  return (w / 1000) * sizePt;
}
