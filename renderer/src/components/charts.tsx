import { useMemo, type ReactElement } from 'react';
import { CartesianGrid, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { niceDomain, niceTicks, type AxisKind } from '../../../shared/ticks';
import { pointsAroundRange } from '../chart-zoom';
import { ChartButtons, dragSelection, PlotProbe, useDragZoom, useFullScreen, useWindowHeight } from './chart-interaction';
import { useElementWidth } from '../hooks';
import { formatNumber } from '../format';
import { downsamplePoints, type XY } from '../metrics';

export type { XY } from '../metrics';

export interface Series {
  key: string;
  name: string;
  color: string;
  points: XY[];
  strokeWidth?: number;
  dash?: string;
}

/** Okabe–Ito: colour-blind-safe, stable order. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#8C6D00', '#000000'];

export interface LegendItem {
  name: string;
  color: string;
  strokeWidth: number;
  dash?: string;
  x: number;
  y: number;
}

const LEGEND_FONT = 11;
const LEGEND_ROW = 16;
const SWATCH = 16;

/** Lay legend entries out in rows across `width`; returns the items and the height used. */
export function layoutLegend(
  series: Pick<Series, 'name' | 'color' | 'strokeWidth' | 'dash'>[],
  width: number,
  left: number,
): { items: LegendItem[]; height: number } {
  const items: LegendItem[] = [];
  let x = left;
  let row = 0;
  for (const s of series) {
    const w = SWATCH + 6 + Math.ceil(s.name.length * LEGEND_FONT * 0.6) + 14;
    if (x + w > width && x > left) {
      row += 1;
      x = left;
    }
    items.push({ name: s.name, color: s.color, strokeWidth: s.strokeWidth ?? 1.5, dash: s.dash, x, y: 6 + row * LEGEND_ROW });
    x += w;
  }
  return { items, height: series.length ? (row + 1) * LEGEND_ROW + 6 : 0 };
}

/** The legend drawn inside the chart's own <svg>, so an exported SVG carries it. */
export function SvgLegend({ items }: { items: LegendItem[] }): ReactElement {
  return (
    <g className="svg-legend">
      {items.map((it, i) => (
        // labels can repeat (a template over a key the groups share): key by position too
        <g key={`${i}:${it.name}`} transform={`translate(${it.x},${it.y})`}>
          <line x1={0} x2={SWATCH} y1={6} y2={6} stroke={it.color} strokeWidth={Math.max(2, it.strokeWidth)} strokeDasharray={it.dash} />
          <text x={SWATCH + 5} y={10} fontSize={LEGEND_FONT} fill="#333">
            {it.name}
          </text>
        </g>
      ))}
    </g>
  );
}

export interface LineChartPanelProps {
  series: Series[];
  height?: number;
  xLabel?: string;
  yLabel?: string;
  yDomain?: [number | 'auto', number | 'auto'];
  xDomain?: [number | 'auto' | 'dataMin', number | 'auto' | 'dataMax'];
  yFormat?: (v: number) => string;
  integerX?: boolean;
  testId?: string;
  empty?: string;
  /** Draw the legend (inside the SVG); default: when there is more than one series. */
  legend?: boolean;
  /** Extra data-* attributes for tests. */
  data?: Record<string, string | number>;
  /**
   * 'log2': plot x on a base-2 log scale (x > 0 only; points at x <= 0 are left out), with
   * ticks at the powers of two. Default 'linear'.
   */
  xScale?: 'linear' | 'log2';
  /** Format of the x ticks and the tooltip's x (in data units, also on a log scale). */
  xFormat?: (v: number) => string;
  /** Explicit x ticks in data units (linear scale only; a log2 axis ticks the powers of two). */
  xTicks?: number[];
  /** Explicit y ticks (with yDomain ending on them: shared/ticks.ts niceDomain). */
  yTicks?: number[];
  /**
   * Drag across the plot to zoom x (linear axes), double-click to go back: the zoomed axis ticks
   * as this kind, and y is refit to the points in the range.
   */
  zoomKind?: AxisKind;
  /** Shown above the chart while it fills the window (the panel's own heading is left behind). */
  title?: string;
}

/** 2^v, snapped to the nearest integer when within rounding error of it. */
function exp2(v: number): number {
  const x = 2 ** v;
  const r = Math.round(x);
  return Math.abs(x - r) < 1e-9 * Math.max(1, r) ? r : x;
}

/**
 * A static-looking live line chart: no animation, no dots on long series, each series
 * downsampled (LTTB) to about the plot width, the legend inside the SVG.
 */
/** Full screen: what the window's height loses to the chart's padding and title there (styles.css .chart-fullscreen). */
const FULLSCREEN_CHROME = 56;

export function LineChartPanel(props: LineChartPanelProps): ReactElement {
  const { series, height: baseHeight = 240, xLabel, yLabel, yDomain, yFormat, integerX, testId, empty = 'No data yet.' } = props;
  const [ref, width] = useElementWidth<HTMLDivElement>();
  const log2 = props.xScale === 'log2';
  // On a log scale, plot log2(x) on a linear axis: ticks land on the powers of two.
  const plotted = useMemo(
    () =>
      log2 ? series.map((s) => ({ ...s, points: s.points.filter((p) => p.x > 0).map((p) => ({ x: Math.log2(p.x), y: p.y })) })) : series,
    [series, log2],
  );
  const xAxis = useMemo((): {
    domain: NonNullable<LineChartPanelProps['xDomain']>;
    ticks: number[] | undefined;
    toData: (v: number) => number;
    fmt: (v: number) => string;
  } => {
    // linear without xFormat: recharts' own tick labels, as before
    const fmt = props.xFormat ?? (log2 ? (v: number) => formatNumber(v) : (v: number) => String(v));
    if (!log2) return { domain: props.xDomain ?? ['dataMin', 'dataMax'], ticks: props.xTicks, toData: (v: number) => v, fmt };
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of plotted)
      for (const p of s.points) {
        lo = Math.min(lo, p.x);
        hi = Math.max(hi, p.x);
      }
    const [d0, d1] = props.xDomain ?? ['dataMin', 'dataMax'];
    if (typeof d0 === 'number' && d0 > 0) lo = Math.log2(d0);
    if (typeof d1 === 'number' && d1 > 0) hi = Math.log2(d1);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { domain: ['dataMin', 'dataMax'], ticks: undefined, toData: exp2, fmt };
    const t0 = Math.floor(lo);
    const t1 = Math.max(t0 + 1, Math.ceil(hi));
    const ticks: number[] = [];
    for (let t = t0; t <= t1; t++) ticks.push(t);
    return { domain: [t0, t1], ticks, toData: exp2, fmt };
  }, [log2, plotted, props.xDomain, props.xFormat, props.xTicks]);
  const margin = { left: 8, right: 16, bottom: xLabel ? 22 : 6 };
  const yAxisWidth = yLabel ? 58 : 44;
  const showLegend = props.legend ?? series.length > 1;
  const legend = useMemo(
    () => (showLegend ? layoutLegend(series, width - margin.right, margin.left + yAxisWidth) : { items: [], height: 4 }),
    [series, width, margin.right, margin.left, yAxisWidth, showLegend],
  );
  const plotWidth = Math.max(50, width - margin.left - margin.right - yAxisWidth);
  const zoomable = props.zoomKind !== undefined && !log2;
  const { zoom: zoomed, resetZoom, drag, onLayout, plotRef, onMouseDown } = useDragZoom(xLabel ?? 'x');
  // a zoomable chart also fills the window on demand (Escape leaves)
  const [full, setFull] = useFullScreen();
  const windowHeight = useWindowHeight(full && zoomable);
  const height = full && zoomable ? Math.max(baseHeight, windowHeight - FULLSCREEN_CHROME) : baseHeight;
  const zoom = zoomable ? zoomed : null;
  const inRange = useMemo(
    () => (zoom ? plotted.map((s) => ({ ...s, points: pointsAroundRange(s.points, zoom) })) : plotted),
    [plotted, zoom],
  );
  const shown = useMemo(() => inRange.map((s) => ({ ...s, points: downsamplePoints(s.points, plotWidth) })), [inRange, plotWidth]);
  // zoomed: x ticks over the range, y refit to what the range shows (when the caller ticks y itself)
  const zoomAxes = useMemo(() => {
    if (!zoom) return null;
    const x = niceTicks(props.zoomKind ?? 'value', zoom[0], zoom[1], 4);
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const s of inRange)
      for (const p of s.points)
        if (p.x >= zoom[0] && p.x <= zoom[1]) {
          y0 = Math.min(y0, p.y);
          y1 = Math.max(y1, p.y);
        }
    return { x, y: props.yTicks && y0 <= y1 ? niceDomain('value', y0, y1, 4) : null };
  }, [zoom, inRange, props.zoomKind, props.yTicks]);
  const nPoints = plotted.reduce((a, s) => a + s.points.length, 0);
  const attrs: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(props.data ?? {})) attrs[`data-${k}`] = v;

  return (
    <div
      ref={ref}
      className={zoomable ? `chart zoomable-chart${full ? ' chart-fullscreen' : ''}` : 'chart'}
      data-testid={testId}
      data-points={nPoints}
      data-x-scale={log2 ? 'log2' : undefined}
      data-zoomed={zoomable ? (zoom ? 'yes' : 'no') : undefined}
      data-fullscreen={zoomable ? (full ? 'yes' : 'no') : undefined}
      {...attrs}
    >
      {full && zoomable ? <div className="chart-fullscreen-title">{props.title}</div> : null}
      {zoomable && nPoints > 0 ? (
        <div className="chart-corner-buttons">
          <ChartButtons zoomed={!!zoom} onReset={resetZoom} full={full} onToggleFull={() => setFull((f) => !f)} />
        </div>
      ) : null}
      {nPoints === 0 ? (
        <div className="chart-empty" style={{ height }}>
          {empty}
        </div>
      ) : width > 0 ? (
        <div
          ref={plotRef}
          className={zoomable ? 'zoomable-plot' : undefined}
          onMouseDown={zoomable ? onMouseDown : undefined}
          onDoubleClick={zoomable ? resetZoom : undefined}
        >
          <LineChart width={width} height={height} margin={{ ...margin, top: legend.height + 4 }}>
            <CartesianGrid stroke="#e6e6e6" strokeDasharray="2 3" />
            <XAxis
              type="number"
              dataKey="x"
              domain={zoom ?? xAxis.domain}
              allowDataOverflow={!!zoom}
              ticks={zoomAxes ? zoomAxes.x.ticks : xAxis.ticks}
              interval={zoomAxes || xAxis.ticks ? 0 : undefined}
              allowDecimals={!integerX}
              tickFormatter={zoomAxes ? zoomAxes.x.format : log2 || props.xFormat ? (v: number) => xAxis.fmt(xAxis.toData(v)) : undefined}
              tick={{ fontSize: 11 }}
              stroke="#888"
              label={xLabel ? { value: xLabel, position: 'insideBottom', offset: -10, fontSize: 11, fill: '#555' } : undefined}
            />
            <YAxis
              width={yAxisWidth}
              domain={zoomAxes?.y?.domain ?? yDomain ?? ['auto', 'auto']}
              ticks={zoomAxes?.y?.ticks ?? props.yTicks}
              interval={props.yTicks ? 0 : undefined}
              tick={{ fontSize: 11 }}
              stroke="#888"
              tickFormatter={zoomAxes?.y?.format ?? yFormat ?? ((v: number) => formatNumber(v))}
              label={
                yLabel
                  ? {
                      value: yLabel,
                      angle: -90,
                      position: 'insideLeft',
                      offset: 2,
                      fontSize: 11,
                      fill: '#555',
                      style: { textAnchor: 'middle' },
                    }
                  : undefined
              }
            />
            <Tooltip
              isAnimationActive={false}
              formatter={(v) => (typeof v === 'number' ? (yFormat ?? formatNumber)(v) : String(v))}
              labelFormatter={(l) => `${xLabel ?? 'x'} ${typeof l === 'number' ? xAxis.fmt(xAxis.toData(l)) : String(l)}`}
              contentStyle={{ fontSize: 12, padding: '4px 8px' }}
            />
            {/* Drawn last-first, so the first series (the main one) ends up on top. */}
            {[...shown].reverse().map((s) => (
              <Line
                key={s.key}
                data={s.points}
                dataKey="y"
                name={s.name}
                type="linear"
                stroke={s.color}
                strokeWidth={s.strokeWidth ?? 1.5}
                strokeDasharray={s.dash}
                dot={s.points.length <= 12 ? { r: 2.5, strokeWidth: 0, fill: s.color } : false}
                activeDot={{ r: 3 }}
                isAnimationActive={false}
                connectNulls
              />
            ))}
            {dragSelection(drag)}
            <SvgLegend items={legend.items} />
            {zoomable ? <PlotProbe onLayout={onLayout} /> : null}
          </LineChart>
        </div>
      ) : (
        <div style={{ height }} />
      )}
    </div>
  );
}
