import { useMemo, type ReactElement } from 'react';
import { Area, CartesianGrid, ComposedChart, Line, Tooltip, XAxis, YAxis } from 'recharts';
import { useElementWidth } from '../hooks';
import { formatNumber } from '../format';
import { layoutLegend, SvgLegend } from './charts';
import { bandOpacity, isUnitInterval, type CompareGroup } from '../compare';
import type { AggCols } from '../columns';
import { MAX_GROUPS_WITH_RAW, pointsPerLine, thinAggregate, thinRun } from '../downsample';
import { chartDomains } from '../chart-domain';
import { CanvasSeries } from './CanvasSeries';
import { niceTicks, type AxisKind } from '../../../shared/ticks';
import { formatDomain, sliceToRange, xExtent, zoomedDomains } from '../chart-zoom';
import { ChartButtons, dragSelection, PlotProbe, useDragZoom, useFullScreen, useWindowHeight } from './chart-interaction';
import { CanvasTooltip, MeanTooltip, type TooltipItem } from './chart-tooltip';

/** Above this many lines, or points over all lines, the chart draws them on a canvas (CanvasSeries). */
export const CANVAS_ABOVE_LINES = 12;
export const CANVAS_ABOVE_POINTS = 4000;

/** Full screen: what the window's height loses to the panel's padding and the toolbar (styles.css .chart-fullscreen). */
const FULLSCREEN_CHROME = 60;

function hasBand(a: AggCols): boolean {
  for (let i = 0; i < a.length; i++) if (a.n[i]! > 1 && a.hi[i]! > a.lo[i]!) return true;
  return false;
}

export interface CompareChartProps {
  groups: CompareGroup[];
  yLog: boolean;
  smoothing: number;
  showRuns: boolean;
  xLabel: string;
  /** What the x axis counts, for its ticks: whole counts (iterations, tokens …), a duration (s), or plain values. */
  xKind?: AxisKind;
  yLabel: string;
  height?: number;
  /** A fixed width in CSS pixels (default: follow the container's width). */
  width?: number;
  /** The zoomed x range, when the caller keeps it (the compare view, in its URL); else the chart's own. */
  zoom?: { range: [number, number] | null; onChange: (r: [number, number] | null) => void };
}

/** Where the plot area is in the chart and the x domain recharts drew, as last laid out. */
/**
 * Mean line per group over a shaded band (std or CI), the raw mean faint behind the
 * smoothed one when smoothing (up to MAX_GROUPS_WITH_RAW groups), optionally each run thin; every series downsampled (LTTB)
 * to about the plot width, and further when many lines share the chart (an SVG of more
 * than POINT_BUDGET points redraws too slowly); the legend inside the SVG.
 * Drag across the plot to zoom to an x range (y refits to it), double-click to zoom out;
 * "Full screen" fills the window with the chart (Escape leaves).
 */
export function CompareChart(props: CompareChartProps): ReactElement {
  const { groups, yLog, smoothing, showRuns, xLabel, yLabel } = props;
  const [ref, measured] = useElementWidth<HTMLDivElement>();
  const [full, setFull] = useFullScreen();
  const windowHeight = useWindowHeight(full);
  const height = full ? Math.max(props.height ?? 340, windowHeight - FULLSCREEN_CHROME) : (props.height ?? 340);
  const width = props.width ?? measured;
  const margin = { left: 8, right: 16, bottom: 22 };
  const yAxisWidth = 58;
  const plotWidth = Math.max(50, width - margin.left - margin.right - yAxisWidth);
  // accuracies and other fractions: the whole [0, 1] range, so curves compare at a glance
  const unitInterval = !yLog && isUnitInterval(groups);

  // the zoomed x range, for the x axis it was picked on (another axis shows all of its own)
  const axisKey = `${xLabel}|${props.xKind ?? 'value'}`;
  const { zoom, resetZoom, drag, onLayout, plotRef, onMouseDown, geometry } = useDragZoom(axisKey, props.zoom);

  const withRaw = smoothing > 0 && groups.length <= MAX_GROUPS_WITH_RAW;
  const lines = groups.reduce((n, g) => n + (withRaw ? 2 : 1) + (showRuns && g.runs.length > 1 ? g.runs.length : 0), 0);
  const perLine = pointsPerLine(plotWidth, lines);

  const drawn = useMemo(
    () =>
      groups
        .map((g) => {
          // zoomed: each line cut to the range (and a point either side) before thinning, so the range gets the detail
          const cut = <C extends { x: Float64Array; length: number }>(c: C): C => (zoom ? sliceToRange(c, zoom) : c);
          const mean = thinAggregate(cut(g.cols.smoothed), perLine, yLog);
          return {
            g,
            mean,
            raw: withRaw ? thinAggregate(cut(g.cols.raw), perLine, yLog) : [],
            runs: showRuns && g.runs.length > 1 ? g.cols.runsSmoothed.map((r) => thinRun(cut(r), perLine, yLog)) : [],
            hasBand: hasBand(g.cols.smoothed),
            // a group with nothing in the zoomed range stays (legend, series count)
            present: mean.length > 0 || (zoom !== null && thinAggregate(g.cols.smoothed, 3, yLog).length > 0),
          };
        })
        .filter((d) => d.present),
    [groups, perLine, yLog, withRaw, showRuns, zoom],
  );
  const legend = useMemo(
    () =>
      layoutLegend(
        drawn.map((d) => ({ name: d.g.label, color: d.g.color, dash: d.g.dash, strokeWidth: 2 })),
        width - margin.right,
        margin.left + yAxisWidth,
      ),
    [drawn, width, margin.right, margin.left],
  );
  const nPoints = drawn.reduce((a, d) => a + d.mean.length, 0);
  const allPoints = drawn.reduce((a, d) => a + d.mean.length + d.raw.length + d.runs.reduce((b, r) => b + r.length, 0), 0);
  // many lines or points: drawn on a canvas inside the plot area (recharts keeps the axes, grid
  // and legend; the per-point tooltip is recharts' and goes with it)
  const canvas = lines > CANVAS_ABOVE_LINES || allPoints > CANVAS_ABOVE_POINTS;
  // explicit domains on a canvas (recharts does not see its lines) and when zoomed (x the range, y refit to it)
  const domains = useMemo(
    () => (zoom ? zoomedDomains(drawn, zoom, { yLog, unitInterval }) : canvas ? chartDomains(drawn, { yLog, unitInterval }) : null),
    [zoom, canvas, drawn, yLog, unitInterval],
  );
  const onCanvas = canvas && domains !== null;
  const extent = useMemo(() => xExtent(drawn), [drawn]);
  const xDomain: [number, number] = zoom ?? domains?.x ?? extent;
  // ticks over the data (as drawn unzoomed), or over the zoomed range
  const [tick0, tick1] = zoom ?? extent;
  const xTicks = useMemo(
    () => niceTicks(props.xKind ?? 'value', tick0, tick1, Math.max(2, Math.min(8, Math.floor(plotWidth / 90)))),
    [props.xKind, tick0, tick1, plotWidth],
  );
  // each group's run count: a point whose mean is over fewer runs is marked in the tooltip
  const totals = useMemo(() => new Map(groups.map((g) => [g.label, g.runs.length])), [groups]);
  const bandFill = bandOpacity(drawn.filter((d) => d.hasBand).length);
  // what the canvas chart's tooltip reads: each drawn group's exact mean curve
  const hoverGroups = useMemo(() => drawn.map((d) => ({ label: d.g.label, color: d.g.color, cols: d.g.cols.smoothed })), [drawn]);
  const canvasLines = useMemo(
    () =>
      onCanvas
        ? drawn.map((d) => ({
            color: d.g.color,
            dash: d.g.dash,
            mean: d.mean,
            raw: d.raw,
            runs: d.runs,
            hasBand: d.hasBand,
            bandOpacity: bandFill,
          }))
        : [],
    [onCanvas, drawn, bandFill],
  );

  return (
    <div
      ref={ref}
      className={full ? 'chart compare-chart chart-fullscreen' : 'chart compare-chart'}
      data-testid="compare-chart"
      data-series-count={drawn.length}
      data-points={nPoints}
      data-y-scale={yLog ? 'log' : 'linear'}
      data-smoothing={smoothing}
      data-x-label={xLabel}
      data-x-ticks={xTicks.ticks.map(xTicks.format).join(' | ')}
      data-show-runs={showRuns ? 'yes' : 'no'}
      data-render={onCanvas ? 'canvas' : 'svg'}
      data-zoomed={zoom ? 'yes' : 'no'}
      data-x-domain={formatDomain(xDomain)}
      data-fullscreen={full ? 'yes' : 'no'}
    >
      {drawn.length === 0 ? null : (
        <div className="chart-toolbar">
          <span className="muted small">{zoom ? 'Zoomed: double-click to reset' : 'Drag across the plot to zoom'}</span>
          <ChartButtons zoomed={!!zoom} onReset={resetZoom} full={full} onToggleFull={() => setFull((f) => !f)} />
        </div>
      )}
      {drawn.length === 0 ? (
        <div className="chart-empty" style={{ height }}>
          No data for this metric and axis.
        </div>
      ) : width > 0 ? (
        <div ref={plotRef} className="compare-plot" data-testid="compare-plot" onMouseDown={onMouseDown} onDoubleClick={resetZoom}>
          <ComposedChart width={width} height={height} margin={{ ...margin, top: legend.height + 4 }}>
            <CartesianGrid stroke="#e6e6e6" strokeDasharray="2 3" />
            <XAxis
              type="number"
              dataKey="x"
              domain={domains ? domains.x : ['dataMin', 'dataMax']}
              // explicit domains clip what lies outside them (the zoomed range's neighbours)
              allowDataOverflow={!!domains}
              ticks={xTicks.ticks}
              interval={0}
              tick={{ fontSize: 11 }}
              tickFormatter={xTicks.format}
              stroke="#888"
              label={{ value: xLabel, position: 'insideBottom', offset: -10, fontSize: 11, fill: '#555' }}
            />
            <YAxis
              width={yAxisWidth}
              scale={yLog ? 'log' : 'auto'}
              domain={domains ? domains.y : yLog ? ['dataMin', 'dataMax'] : unitInterval ? [0, 1] : ['auto', 'auto']}
              ticks={domains?.yTicks}
              // a band may reach past [0, 1]: clip it rather than stretch the axis
              allowDataOverflow={yLog || !!domains || unitInterval}
              tick={{ fontSize: 11 }}
              stroke="#888"
              tickFormatter={(v: number) => formatNumber(v)}
              label={{
                value: yLabel,
                angle: -90,
                position: 'insideLeft',
                offset: 2,
                fontSize: 11,
                fill: '#555',
                style: { textAnchor: 'middle' },
              }}
            />
            {onCanvas && domains ? (
              // an invisible line spanning the domains: recharts lays out axes only around some data
              <Line
                data={[
                  { x: domains.x[0], y: domains.y[0] },
                  { x: domains.x[1], y: domains.y[1] },
                ]}
                dataKey="y"
                stroke="none"
                dot={false}
                activeDot={false}
                tooltipType="none"
                legendType="none"
                isAnimationActive={false}
              />
            ) : null}
            {onCanvas ? <CanvasSeries lines={canvasLines} /> : null}
            {onCanvas ? null : (
              <Tooltip
                isAnimationActive={false}
                content={(p) => (
                  <MeanTooltip
                    active={p.active}
                    label={p.label}
                    payload={p.payload as unknown as TooltipItem[] | undefined}
                    xLabel={xLabel}
                    formatX={xTicks.format}
                    totals={totals}
                  />
                )}
              />
            )}
            {onCanvas
              ? null
              : drawn.map((d) =>
                  d.hasBand ? (
                    <Area
                      key={`band-${d.g.key}`}
                      data={d.mean}
                      dataKey="band"
                      type="linear"
                      stroke="none"
                      fill={d.g.color}
                      fillOpacity={bandFill}
                      isAnimationActive={false}
                      tooltipType="none"
                      activeDot={false}
                      legendType="none"
                      connectNulls
                    />
                  ) : null,
                )}
            {onCanvas
              ? null
              : drawn.flatMap((d) =>
                  d.runs.map((r, i) => (
                    <Line
                      key={`run-${d.g.key}-${i}`}
                      data={r}
                      dataKey="y"
                      type="linear"
                      stroke={d.g.color}
                      strokeOpacity={0.45}
                      strokeWidth={0.8}
                      strokeDasharray={d.g.dash}
                      dot={false}
                      activeDot={false}
                      tooltipType="none"
                      legendType="none"
                      isAnimationActive={false}
                    />
                  )),
                )}
            {onCanvas
              ? null
              : drawn.map((d) =>
                  d.raw.length ? (
                    <Line
                      key={`raw-${d.g.key}`}
                      data={d.raw}
                      dataKey="y"
                      type="linear"
                      stroke={d.g.color}
                      strokeOpacity={0.25}
                      strokeWidth={1}
                      strokeDasharray={d.g.dash}
                      dot={false}
                      activeDot={false}
                      tooltipType="none"
                      legendType="none"
                      isAnimationActive={false}
                    />
                  ) : null,
                )}
            {onCanvas
              ? null
              : drawn.map((d) => (
                  <Line
                    key={`mean-${d.g.key}`}
                    data={d.mean}
                    dataKey="y"
                    name={d.g.label}
                    type="linear"
                    stroke={d.g.color}
                    strokeWidth={2}
                    strokeDasharray={d.g.dash}
                    dot={d.mean.length <= 12 ? { r: 2.5, strokeWidth: 0, fill: d.g.color } : false}
                    activeDot={{ r: 3 }}
                    isAnimationActive={false}
                    connectNulls
                  />
                ))}
            {dragSelection(drag)}
            <SvgLegend items={legend.items} />
            <PlotProbe onLayout={onLayout} />
          </ComposedChart>
          {onCanvas ? (
            <CanvasTooltip
              plotRef={plotRef}
              geometry={geometry}
              groups={hoverGroups}
              xLabel={xLabel}
              formatX={xTicks.format}
              totals={totals}
            />
          ) : null}
        </div>
      ) : (
        <div style={{ height }} />
      )}
    </div>
  );
}
