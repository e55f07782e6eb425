/**
 * The compare chart's lines and bands drawn on a canvas inside the recharts plot area, for
 * charts with many lines: recharts redraws each SVG line as its own component (about 0.3 s
 * for 50 lines on a 2-core machine, whatever their length), a canvas draws them in a few ms.
 * Axes, grid and legend stay recharts' / SVG; the scales are the chart's own.
 */
import { useLayoutEffect, useRef, type ReactElement } from 'react';
import { usePlotArea, useXAxisScale, useYAxisScale } from 'recharts';
import type { Row } from '../downsample';

export interface CanvasLine {
  color: string;
  dash: string | undefined;
  mean: Row[];
  raw: Row[];
  runs: Row[][];
  hasBand: boolean;
  /** The band's fill opacity (bandOpacity: lighter when many bands overlap). */
  bandOpacity: number;
}

export function CanvasSeries({ lines }: { lines: CanvasLine[] }): ReactElement | null {
  const area = usePlotArea();
  const sx = useXAxisScale();
  const sy = useYAxisScale();
  const ref = useRef<HTMLCanvasElement>(null);

  useLayoutEffect(() => {
    const c = ref.current;
    if (!c || !area || !sx || !sy) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.max(1, Math.round(area.width * dpr));
    c.height = Math.max(1, Math.round(area.height * dpr));
    const ctx = c.getContext('2d');
    if (!ctx) return;
    // draw in the chart's coordinates (the scales map into the whole SVG)
    ctx.setTransform(dpr, 0, 0, dpr, -area.x * dpr, -area.y * dpr);
    ctx.clearRect(area.x, area.y, area.width, area.height);
    const X = (v: number) => sx(v) as number;
    const Y = (v: number) => sy(v) as number;
    const stroke = (pts: Row[], color: string, width: number, alpha: number, dash: string | undefined) => {
      if (pts.length < 2) return;
      ctx.beginPath();
      let started = false;
      for (const p of pts) {
        const x = X(p.x);
        const y = Y(p.y);
        if (!Number.isFinite(x) || !Number.isFinite(y)) {
          started = false;
          continue;
        }
        if (started) ctx.lineTo(x, y);
        else {
          ctx.moveTo(x, y);
          started = true;
        }
      }
      ctx.globalAlpha = alpha;
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.lineJoin = 'round';
      ctx.setLineDash(dash ? dash.split(/[\s,]+/).map(Number) : []);
      ctx.stroke();
    };
    for (const l of lines) {
      if (!l.hasBand) continue;
      const pts = l.mean.filter((p) => p.band && Number.isFinite(Y(p.band[0])) && Number.isFinite(Y(p.band[1])));
      if (pts.length < 2) continue;
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(X(p.x), Y(p.band![1])) : ctx.moveTo(X(p.x), Y(p.band![1]))));
      for (let i = pts.length - 1; i >= 0; i--) ctx.lineTo(X(pts[i]!.x), Y(pts[i]!.band![0]));
      ctx.closePath();
      ctx.globalAlpha = l.bandOpacity;
      ctx.fillStyle = l.color;
      ctx.fill();
    }
    for (const l of lines) for (const r of l.runs) stroke(r, l.color, 0.8, 0.45, l.dash);
    for (const l of lines) stroke(l.raw, l.color, 1, 0.25, l.dash);
    for (const l of lines) stroke(l.mean, l.color, 2, 1, l.dash);
    ctx.globalAlpha = 1;
  }, [lines, area, sx, sy]);

  if (!area) return null;
  return (
    <foreignObject x={area.x} y={area.y} width={area.width} height={area.height} style={{ pointerEvents: 'none' }}>
      <canvas ref={ref} data-testid="compare-canvas" style={{ width: area.width, height: area.height, display: 'block' }} />
    </foreignObject>
  );
}
