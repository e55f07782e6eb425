/**
 * Lays a Figure out at a paper preset's size as a list of drawing primitives in points
 * (1/72 in, y down). The SVG writer and the PDF painter both draw this one scene, so the
 * two files (and the PNG rendered from the SVG) are the same figure.
 */
import { FONT_FAMILY, textWidth } from './font-metrics';
import { figureBandOpacity, resolvePreset, type ExportPreset, type Figure, type FigureSeries, type PresetName } from './model';
import { styleOfSeries, type Dash } from './style';
import { formatLogTick, formatTick, logTicks, niceStep, niceTicks, ticksBetween, type Ticks } from '../ticks';

export type Pt = readonly [number, number];

export type SceneItem =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill?: string; fillOpacity?: number; stroke?: string; width?: number }
  | { kind: 'line'; points: Pt[]; stroke: string; width: number; dash?: number[]; opacity?: number }
  | { kind: 'area'; points: Pt[]; fill: string; opacity: number }
  | { kind: 'circle'; cx: number; cy: number; r: number; fill: string }
  /** Items up to the matching clip-end are clipped to this rectangle (the plot area). */
  | { kind: 'clip-begin'; x: number; y: number; w: number; h: number }
  | { kind: 'clip-end' }
  /** Text on its alphabetic baseline at (x, y); `rotate` turns it 90° counter-clockwise about that point. */
  | {
      kind: 'text';
      x: number;
      y: number;
      text: string;
      size: number;
      anchor: 'start' | 'middle' | 'end';
      rotate?: boolean;
      color?: string;
    };

export interface Scene {
  /** Size in points. */
  width: number;
  height: number;
  widthIn: number;
  heightIn: number;
  fontFamily: ExportPreset['fontFamily'];
  /** The embedded font's family name (Tinos / Arimo). */
  fontName: string;
  title: string;
  /** The plot area in points. */
  plot: { x: number; y: number; w: number; h: number };
  /** Where the legend went (null: no legend). */
  legend: { corner: Corner; x: number; y: number; w: number; h: number } | null;
  items: SceneItem[];
}

export type Corner = 'top-left' | 'bottom-right' | 'top-right' | 'bottom-left';

/** TikZ's dash patterns (pt), so the figure matches its pgfplots twin; `on` of dots = line width. */
export function dashArray(d: Dash, lineWidth: number): number[] | undefined {
  const dot = lineWidth;
  switch (d) {
    case 'solid':
      return undefined;
    case 'dashed':
      return [3, 3];
    case 'dotted':
      return [dot, 2];
    case 'dashdotted':
      return [3, 2, dot, 2];
    case 'densely dashed':
      return [3, 2];
    case 'densely dotted':
      return [dot, 1];
  }
}

// ---------------------------------------------------------------- layout

interface Drawn {
  s: FigureSeries;
  color: string;
  dash: Dash;
  mean: { x: number; y: number }[];
  bands: { x: number; lo: number; hi: number }[][];
  runs: { x: number; y: number }[][];
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

function prepare(figure: Figure): Drawn[] {
  const yLog = !!figure.yLog;
  const ok = (y: number | undefined): y is number => finite(y) && (!yLog || y > 0);
  return figure.series.map((s) => {
    const { color, dash } = styleOfSeries(s);
    const pts = [...s.points].filter((p) => finite(p.x)).sort((a, b) => a.x - b.x);
    const bands: Drawn['bands'] = [];
    let cur: Drawn['bands'][number] = [];
    for (const p of pts) {
      if (ok(p.mean) && ok(p.lo) && ok(p.hi) && p.hi >= p.lo) cur.push({ x: p.x, lo: p.lo, hi: p.hi });
      else if (cur.length) {
        bands.push(cur);
        cur = [];
      }
    }
    if (cur.length) bands.push(cur);
    return {
      s,
      color,
      dash,
      mean: pts.filter((p) => ok(p.mean)).map((p) => ({ x: p.x, y: p.mean })),
      bands: bands.filter((b) => b.length > 1),
      runs: (s.runs ?? []).map((r) => r.points.filter((p) => finite(p.x) && ok(p.y)).sort((a, b) => a.x - b.x)),
    };
  });
}

/** Lay a figure out at a preset's size. Throws when nothing in it can be plotted. */
export function layoutFigure(figure: Figure, preset: PresetName | ExportPreset = 'single-column'): Scene {
  const p = resolvePreset(preset);
  const fam = p.fontFamily;
  const W = p.widthIn * 72;
  const H = p.heightIn * 72;
  const fs = p.fontPt;
  const tickFs = fs * 0.9;
  const legendFs = fs * 0.9;
  const tw = (t: string, size: number) => textWidth(t, size, fam);
  const yLog = !!figure.yLog;

  const drawn = prepare(figure).filter((d) => d.mean.length > 0);
  if (!drawn.length) throw new Error(`figure "${figure.title}" has no point to plot${yLog ? ' (a log axis needs positive values)' : ''}`);

  // ---- domains
  const xs: number[] = [];
  const ys: number[] = [];
  for (const d of drawn) {
    for (const q of d.mean) {
      xs.push(q.x);
      ys.push(q.y);
    }
    for (const b of d.bands) for (const q of b) ys.push(q.lo, q.hi);
    for (const r of d.runs)
      for (const q of r) {
        xs.push(q.x);
        ys.push(q.y);
      }
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  // a fixed x axis (a zoomed chart): the lines run to its edges and are clipped there
  if (figure.xDomain && figure.xDomain[1] > figure.xDomain[0]) [x0, x1] = figure.xDomain;
  if (x0 === x1) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  // a fixed axis (as drawn on screen) is the bounds and the range at once
  const fixed = !yLog && figure.yDomain && figure.yDomain[1] > figure.yDomain[0] ? figure.yDomain : null;
  const bounds = fixed ?? (!yLog && figure.yBounds ? figure.yBounds : null);
  const clampY = (v: number) => (bounds ? Math.min(Math.max(v, bounds[0]), bounds[1]) : v);
  y0 = fixed ? fixed[0] : clampY(y0);
  y1 = fixed ? fixed[1] : clampY(y1);
  if (y0 === y1) {
    const pad = yLog ? y0 * 0.5 : Math.abs(y0) * 0.1 || 1;
    y0 -= pad;
    y1 += pad;
  }

  // ---- vertical layout: plot height first (it sets the y ticks, which set the left margin)
  const top = Math.max(4, tickFs * 0.6);
  const bottom = 2 + tickFs + 3 + fs + 3;
  const plotH = Math.max(20, H - top - bottom);
  let yTicks: number[];
  let yLabels: string[];
  if (yLog) {
    y0 = 10 ** Math.floor(Math.log10(y0) + 1e-9);
    y1 = 10 ** Math.ceil(Math.log10(y1) - 1e-9);
    yTicks = logTicks(y0, y1);
    yLabels = yTicks.map(formatLogTick);
  } else {
    const step = niceStep(y1 - y0, Math.max(2, Math.round(plotH / (tickFs * 3))));
    y0 = clampY(Math.floor(y0 / step + 1e-9) * step);
    y1 = clampY(Math.ceil(y1 / step - 1e-9) * step);
    yTicks = ticksBetween(y0, y1, step);
    yLabels = yTicks.map((v) => formatTick(v, step));
  }
  const maxYLabel = Math.max(0, ...yLabels.map((l) => tw(l, tickFs)));
  const left = 2 + fs + 3 + maxYLabel + 3;

  const xTicksFor = (target: number): Ticks => {
    // an axis of a known kind (counts, durations) ticks as the screen does; else 1-2-5 steps
    if (figure.xKind) return niceTicks(figure.xKind, x0, x1, target);
    let step = niceStep(x1 - x0, target);
    if (xs.every((v) => Number.isInteger(v)) && step < 1) step = 1;
    return { ticks: ticksBetween(x0, x1, step), format: (v) => formatTick(v, step) };
  };
  const xRight = tw(xTicksFor(5).format(x1), tickFs) / 2;
  const right = Math.max(5, xRight + 1);
  const plotW = Math.max(20, W - left - right);
  const { ticks: xTicks, format: xFormat } = xTicksFor(Math.max(2, Math.min(8, Math.round(plotW / (tickFs * 5)))));
  const plot = { x: left, y: top, w: plotW, h: plotH };

  const fy = (v: number) => (yLog ? Math.log10(v) : v);
  const sx = (v: number) => plot.x + ((v - x0) / (x1 - x0)) * plot.w;
  const sy = (v: number) => plot.y + plot.h - ((fy(v) - fy(y0)) / (fy(y1) - fy(y0))) * plot.h;
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const P = (x: number, y: number): Pt => [r2(sx(x)), r2(sy(y))];

  const items: SceneItem[] = [];
  const bandFill = figureBandOpacity(figure); // as the screen draws them
  items.push({ kind: 'rect', x: 0, y: 0, w: r2(W), h: r2(H), fill: '#FFFFFF' });
  for (const t of yTicks) items.push({ kind: 'line', points: [P(x0, t), P(x1, t)], stroke: '#E0E0E0', width: 0.4 });
  items.push({ kind: 'clip-begin', x: r2(plot.x), y: r2(plot.y), w: r2(plot.w), h: r2(plot.h) });
  for (const d of drawn)
    for (const b of d.bands)
      items.push({
        kind: 'area',
        points: [...b.map((q) => P(q.x, q.hi)), ...[...b].reverse().map((q) => P(q.x, q.lo))],
        fill: d.color,
        opacity: bandFill,
      });
  for (const d of drawn)
    for (const r of d.runs)
      if (r.length > 1) items.push({ kind: 'line', points: r.map((q) => P(q.x, q.y)), stroke: d.color, width: 0.5, opacity: 0.4 });
  const meanWidth = 1.2;
  for (const d of drawn) {
    if (d.mean.length === 1) {
      const [cx, cy] = P(d.mean[0]!.x, d.mean[0]!.y);
      items.push({ kind: 'circle', cx, cy, r: 1.6, fill: d.color });
    } else
      items.push({
        kind: 'line',
        points: d.mean.map((q) => P(q.x, q.y)),
        stroke: d.color,
        width: meanWidth,
        dash: dashArray(d.dash, meanWidth),
      });
  }

  items.push({ kind: 'clip-end' });

  // ---- axes: frame, inward ticks, labels
  items.push({ kind: 'rect', x: r2(plot.x), y: r2(plot.y), w: r2(plot.w), h: r2(plot.h), stroke: '#000000', width: 0.6 });
  const tickLen = 3;
  yTicks.forEach((t, i) => {
    const y = r2(sy(t));
    items.push({
      kind: 'line',
      points: [
        [plot.x, y],
        [plot.x + tickLen, y],
      ],
      stroke: '#000000',
      width: 0.5,
    });
    items.push({ kind: 'text', x: r2(plot.x - 3), y: r2(y + tickFs * 0.33), text: yLabels[i]!, size: tickFs, anchor: 'end' });
  });
  xTicks.forEach((t) => {
    const x = r2(sx(t));
    items.push({
      kind: 'line',
      points: [
        [x, plot.y + plot.h],
        [x, plot.y + plot.h - tickLen],
      ],
      stroke: '#000000',
      width: 0.5,
    });
    items.push({ kind: 'text', x, y: r2(plot.y + plot.h + 2 + tickFs * 0.8), text: xFormat(t), size: tickFs, anchor: 'middle' });
  });
  items.push({ kind: 'text', x: r2(plot.x + plot.w / 2), y: r2(H - 3 - fs * 0.2), text: figure.xLabel, size: fs, anchor: 'middle' });
  items.push({
    kind: 'text',
    x: r2(2 + fs * 0.8),
    y: r2(plot.y + plot.h / 2),
    text: figure.yLabel + (yLog ? ' (log)' : ''),
    size: fs,
    anchor: 'middle',
    rotate: true,
  });

  // ---- legend inside the plot, in the corner that covers the fewest data points
  let legend: Scene['legend'] = null;
  {
    const pad = 3;
    const sample = 14;
    const rowH = legendFs * 1.3;
    const labelW = Math.max(...drawn.map((d) => tw(d.s.label, legendFs)));
    const colW = sample + 3 + labelW;
    const maxRows = Math.max(1, Math.floor((plot.h - 2 * pad - 6) / rowH));
    const cols = Math.min(drawn.length, Math.ceil(drawn.length / maxRows));
    const rows = Math.ceil(drawn.length / cols);
    const w = 2 * pad + cols * colW + (cols - 1) * 6;
    const h = 2 * pad + rows * rowH - (rowH - legendFs) + legendFs * 0.25;
    const inset = 4;
    const at: Record<Corner, [number, number]> = {
      'top-left': [plot.x + inset, plot.y + inset],
      'top-right': [plot.x + plot.w - inset - w, plot.y + inset],
      'bottom-right': [plot.x + plot.w - inset - w, plot.y + plot.h - inset - h],
      'bottom-left': [plot.x + inset, plot.y + plot.h - inset - h],
    };
    const probe: Pt[] = [];
    const dense = (pts: Pt[]) => {
      for (let i = 0; i < pts.length; i++) {
        probe.push(pts[i]!);
        if (i + 1 < pts.length)
          for (let k = 1; k < 8; k++)
            probe.push([pts[i]![0] + ((pts[i + 1]![0] - pts[i]![0]) * k) / 8, pts[i]![1] + ((pts[i + 1]![1] - pts[i]![1]) * k) / 8]);
      }
    };
    for (const it of items) if (it.kind === 'line' && it.stroke !== '#E0E0E0' && it.stroke !== '#000000') dense(it.points);
    for (const it of items) if (it.kind === 'area') probe.push(...it.points);
    const order: Corner[] = ['top-left', 'bottom-right', 'top-right', 'bottom-left'];
    let corner = order[0]!;
    let bestScore = Infinity;
    for (const c of order) {
      const [lx, ly] = at[c];
      const score = probe.filter(([x, y]) => x >= lx - 1 && x <= lx + w + 1 && y >= ly - 1 && y <= ly + h + 1).length;
      if (score < bestScore) {
        bestScore = score;
        corner = c;
      }
    }
    const [lx, ly] = at[corner];
    legend = { corner, x: r2(lx), y: r2(ly), w: r2(w), h: r2(h) };
    items.push({
      kind: 'rect',
      x: r2(lx),
      y: r2(ly),
      w: r2(w),
      h: r2(h),
      fill: '#FFFFFF',
      fillOpacity: 0.85,
      stroke: '#9E9E9E',
      width: 0.4,
    });
    drawn.forEach((d, i) => {
      const col = Math.floor(i / rows);
      const row = i % rows;
      const bx = lx + pad + col * (colW + 6);
      const base = ly + pad + row * rowH + legendFs * 0.85;
      const mid = r2(base - legendFs * 0.3);
      items.push({
        kind: 'line',
        points: [
          [r2(bx), mid],
          [r2(bx + sample), mid],
        ],
        stroke: d.color,
        width: meanWidth,
        dash: dashArray(d.dash, meanWidth),
      });
      items.push({ kind: 'text', x: r2(bx + sample + 3), y: r2(base), text: d.s.label, size: legendFs, anchor: 'start' });
    });
  }

  return {
    width: r2(W),
    height: r2(H),
    widthIn: p.widthIn,
    heightIn: p.heightIn,
    fontFamily: fam,
    fontName: FONT_FAMILY[fam],
    title: figure.title,
    plot,
    legend,
    items,
  };
}
