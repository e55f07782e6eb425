/**
 * The compare chart's tooltips: recharts' (SVG lines) and the canvas chart's own (many lines,
 * where recharts does not see them). Both show per group the mean, the band as drawn and the
 * number of runs the mean is over.
 */
import { useEffect, useState, type ReactElement, type RefObject } from 'react';
import { formatNumber } from '../format';
import { rowsAt, type HoverRow } from '../chart-hover';
import { pixelToX, xToPixel } from '../chart-zoom';
import type { AggCols } from '../columns';
import type { PlotGeometry } from './chart-interaction';

export interface TooltipItem {
  name?: string;
  color?: string;
  payload?: { x: number; y: number; band?: [number, number]; n?: number };
}

/** The canvas chart's tooltip lists at most this many groups, highest mean first. */
export const CANVAS_TOOLTIP_ROWS = 12;
/** How near the pointer (CSS pixels along x) a point must be for the canvas tooltip to show it. */
const HOVER_PX = 8;

/**
 * The tooltip at an x: per group its mean, the band around it (std or 95% CI, as drawn) and the
 * number of runs the mean is over there, "n = 1 of 2" where some runs have no value yet (a
 * group still running): a mean over fewer seeds than the group has is not the group's mean.
 * With `limit`, the rows past it fold into "+ N more".
 */
export function MeanTooltip(props: {
  active?: boolean;
  label?: unknown;
  payload?: TooltipItem[];
  xLabel: string;
  formatX: (v: number) => string;
  totals: Map<string, number>;
  limit?: number;
}): ReactElement | null {
  const items = (props.payload ?? []).filter((i) => i.payload && typeof i.payload.y === 'number' && i.name);
  if (!props.active || !items.length) return null;
  const shown = props.limit !== undefined ? items.slice(0, props.limit) : items;
  return (
    <div className="compare-tooltip" data-testid="compare-tooltip">
      <div className="compare-tooltip-x">
        {props.xLabel} {typeof props.label === 'number' ? props.formatX(props.label) : String(props.label ?? '')}
      </div>
      {shown.map((i) => {
        const p = i.payload!;
        const total = props.totals.get(i.name!) ?? p.n ?? 1;
        const n = p.n ?? total;
        const band = p.band && n > 1 && p.band[1] > p.band[0] ? ` [${formatNumber(p.band[0])}, ${formatNumber(p.band[1])}]` : '';
        return (
          <div key={i.name} className={n < total ? 'partial' : undefined} data-testid="compare-tooltip-row" data-n={n} data-total={total}>
            <span className="swatch" style={{ background: i.color }} /> {i.name}: {formatNumber(p.y)}
            {band} <span className="muted">{n < total ? `n = ${n} of ${total}` : `n = ${n}`}</span>
          </div>
        );
      })}
      {items.length > shown.length ? (
        <div className="muted" data-testid="compare-tooltip-more">
          + {items.length - shown.length} more
        </div>
      ) : null}
    </div>
  );
}

/**
 * The canvas chart's tooltip and guide line: follows the pointer over the plot (one update per
 * frame, in this component alone, so the chart itself is not redrawn), hidden while a button is
 * down (a zoom drag) and when the pointer leaves.
 */
export function CanvasTooltip(props: {
  plotRef: RefObject<HTMLDivElement | null>;
  geometry: RefObject<PlotGeometry | null>;
  groups: readonly { label: string; color: string; cols: AggCols }[];
  xLabel: string;
  formatX: (v: number) => string;
  totals: Map<string, number>;
}): ReactElement | null {
  const { plotRef, geometry, groups } = props;
  const [at, setAt] = useState<{ px: number; py: number; x: number; rows: HoverRow[]; g: PlotGeometry } | null>(null);
  useEffect(() => {
    const el = plotRef.current;
    if (!el) return;
    let frame = 0;
    let last: MouseEvent | null = null;
    const update = () => {
      frame = 0;
      const g = geometry.current;
      const e = last;
      if (!g || !e || e.buttons) return setAt(null);
      const box = el.getBoundingClientRect();
      const px = e.clientX - box.left;
      const py = e.clientY - box.top;
      if (px < g.span.left || px > g.span.left + g.span.width || py < g.top || py > g.top + g.height) return setAt(null);
      const perPx = (g.domain[1] - g.domain[0]) / Math.max(1, g.span.width);
      const hit = rowsAt(groups, pixelToX(px, g.span, g.domain), HOVER_PX * perPx);
      setAt(hit ? { px, py, x: hit.x, rows: hit.rows, g } : null);
    };
    const move = (e: MouseEvent) => {
      last = e;
      if (!frame) frame = requestAnimationFrame(update);
    };
    const leave = () => {
      last = null;
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      setAt(null);
    };
    el.addEventListener('mousemove', move);
    el.addEventListener('mouseleave', leave);
    return () => {
      el.removeEventListener('mousemove', move);
      el.removeEventListener('mouseleave', leave);
      if (frame) cancelAnimationFrame(frame);
    };
  }, [plotRef, geometry, groups]);
  if (!at) return null;
  const guide = xToPixel(at.x, at.g.span, at.g.domain);
  // beside the pointer, on the side with room
  const right = at.px > at.g.span.left + at.g.span.width / 2;
  return (
    <>
      <div className="canvas-guide" style={{ left: guide, top: at.g.top, height: at.g.height }} />
      <div
        className="canvas-tooltip"
        data-testid="canvas-tooltip"
        style={{ top: at.py + 12, ...(right ? { right: (plotRef.current?.clientWidth ?? 0) - at.px + 12 } : { left: at.px + 12 }) }}
      >
        <MeanTooltip
          active
          label={at.x}
          payload={at.rows.map((r) => ({ name: r.name, color: r.color, payload: { x: r.x, y: r.y, band: r.band, n: r.n } }))}
          xLabel={props.xLabel}
          formatX={props.formatX}
          totals={props.totals}
          limit={CANVAS_TOOLTIP_ROWS}
        />
      </div>
    </>
  );
}
