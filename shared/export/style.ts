/** Colours (Okabe–Ito, colour-blind safe) and dash patterns, stable per variant across figures. */
import { VARIANT_INFO } from '../catalogue';

export interface PaletteColor {
  /** A LaTeX-safe colour name (letters only), used with \definecolor. */
  name: string;
  hex: string;
}

export const OKABE_ITO: readonly PaletteColor[] = [
  { name: 'OIblack', hex: '#000000' },
  { name: 'OIorange', hex: '#E69F00' },
  { name: 'OIskyblue', hex: '#56B4E9' },
  { name: 'OIbluishgreen', hex: '#009E73' },
  { name: 'OIyellow', hex: '#F0E442' },
  { name: 'OIblue', hex: '#0072B2' },
  { name: 'OIvermillion', hex: '#D55E00' },
  { name: 'OIreddishpurple', hex: '#CC79A7' },
];

export type Dash = 'solid' | 'dashed' | 'dotted' | 'dashdotted' | 'densely dashed' | 'densely dotted';
export const DASHES: readonly Dash[] = ['solid', 'dashed', 'dotted', 'dashdotted', 'densely dashed', 'densely dotted'];

export interface SeriesStyle {
  /** Hex colour, #RRGGBB. */
  color: string;
  /** Its LaTeX colour name. */
  colorName: string;
  dash: Dash;
}

const byName = (n: string) => OKABE_ITO.find((c) => c.name === n)!;

/** The catalogue's variants' fixed styles (experiments/starlab/catalogue.json: style.color is a palette name). */
const FIXED: Record<string, { color: PaletteColor; dash: Dash }> = Object.fromEntries(
  VARIANT_INFO.map((v) => {
    const color = byName(v.style.color);
    if (!color || !(DASHES as readonly string[]).includes(v.style.dash))
      throw new Error(
        `catalogue.json: variant ${v.id}'s style ${JSON.stringify(v.style)} is not a palette colour and a dash of shared/export/style.ts`,
      );
    return [v.id, { color, dash: v.style.dash as Dash }];
  }),
);
/** Colours left for other variants (the fixed ones are never reused; yellow is last: it is faint on white). */
const FREE_COLORS = ['OIorange', 'OIskyblue', 'OIblack', 'OIyellow'].map(byName);

/** FNV-1a, 32 bit: a hash that is the same on every platform and run. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The colour + dash of a variant: fixed for the catalogue's variants; hashed from the name otherwise. */
export function styleForVariant(variant: string): SeriesStyle {
  const f = FIXED[variant];
  if (f) return { color: f.color.hex, colorName: f.color.name, dash: f.dash };
  const h = fnv1a(variant);
  const c = FREE_COLORS[h % FREE_COLORS.length]!;
  const dash = DASHES[Math.floor(h / FREE_COLORS.length) % DASHES.length]!;
  return { color: c.hex, colorName: c.name, dash };
}

/** A series' style: its explicit one (e.g. the compare view's on-screen colours), else its variant's. */
export function styleOfSeries(s: { style?: SeriesStyle; variant?: string; key: string }): SeriesStyle {
  return s.style ?? styleForVariant(s.variant ?? s.key);
}

/** The palette colour with this hex value (any case), if any. */
export function paletteColor(hex: string): PaletteColor | undefined {
  return OKABE_ITO.find((c) => c.hex.toLowerCase() === hex.toLowerCase());
}

/** The pgfplots / TikZ line style of a dash. */
export function pgfDash(d: Dash): string {
  return d; // TikZ knows all of these names
}

/** The matplotlib linestyle of a dash, as a Python literal. */
export function mplDash(d: Dash): string {
  switch (d) {
    case 'solid':
      return "'-'";
    case 'dashed':
      return "'--'";
    case 'dotted':
      return "':'";
    case 'dashdotted':
      return "'-.'";
    case 'densely dashed':
      return '(0, (3, 1))';
    case 'densely dotted':
      return '(0, (1, 1))';
  }
}
