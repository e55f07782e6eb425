/**
 * The compare chart's interactions (issue 17): drag across the plot to zoom x, double-click to
 * go back; full screen, left with Escape. The pure geometry is in ../chart-zoom.ts.
 */
import {
  type ReactElement,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  type Dispatch,
  type MouseEvent as ReactMouseEvent,
  type SetStateAction,
} from 'react';
import { ReferenceArea, usePlotArea, useXAxisDomain } from 'recharts';
import { dragToRange, pixelToX, type PlotSpan } from '../chart-zoom';

export interface PlotGeometry {
  span: PlotSpan;
  top: number;
  height: number;
  domain: [number, number];
}

/** Reports the plot area and the x axis' domain (recharts knows them inside the chart only). */
export function PlotProbe({ onLayout }: { onLayout: (g: PlotGeometry | null) => void }): null {
  const area = usePlotArea();
  const domain = useXAxisDomain();
  const d0 = Number(domain?.[0]);
  const d1 = Number(domain?.[domain.length - 1]);
  useLayoutEffect(() => {
    onLayout(area ? { span: { left: area.x, width: area.width }, top: area.y, height: area.height, domain: [d0, d1] } : null);
  }, [area, d0, d1, onLayout]);
  return null;
}

/** The window's inner height while `on` (0 otherwise), following resizes. */
export function useWindowHeight(on: boolean): number {
  const [h, setH] = useState(() => (on ? window.innerHeight : 0));
  useEffect(() => {
    if (!on) return;
    const read = () => setH(window.innerHeight);
    read();
    window.addEventListener('resize', read);
    return () => window.removeEventListener('resize', read);
  }, [on]);
  return on ? h : 0;
}

/**
 * Drag-to-zoom over a chart whose x axis is `axisKey`: the zoomed range (null: all of it; a
 * range picked on another axis does not apply), the drag in progress, and what the plot needs.
 * With `controlled`, the range is the caller's (the compare view keeps it in its URL).
 */
export function useDragZoom(
  axisKey: string,
  controlled?: { range: [number, number] | null; onChange: (r: [number, number] | null) => void },
) {
  const [own, setOwn] = useState<{ range: [number, number]; axis: string } | null>(null);
  const zoomState = controlled ? (controlled.range ? { range: controlled.range, axis: axisKey } : null) : own;
  const setZoomState = (z: { range: [number, number]; axis: string } | null): void =>
    controlled ? controlled.onChange(z && z.axis === axisKey ? z.range : null) : setOwn(z);
  const zoom = zoomState && zoomState.axis === axisKey ? zoomState.range : null;
  // drag to zoom: the plot's geometry as recharts laid it out, the drag in pixels from the chart's left
  const geometry = useRef<PlotGeometry | null>(null);
  const onLayout = useCallback((g: PlotGeometry | null) => {
    geometry.current = g;
  }, []);
  const plotRef = useRef<HTMLDivElement>(null);
  const [drag, setDrag] = useState<{ start: number; end: number; span: PlotSpan; domain: [number, number] } | null>(null);
  const endDrag = useRef<(() => void) | null>(null);
  useEffect(() => () => endDrag.current?.(), []);
  const onMouseDown = (e: ReactMouseEvent<HTMLDivElement>) => {
    const g = geometry.current;
    const el = plotRef.current;
    if (e.button !== 0 || !g || !el) return;
    const left = () => el.getBoundingClientRect().left;
    const px = e.clientX - left();
    const py = e.clientY - el.getBoundingClientRect().top;
    if (px < g.span.left || px > g.span.left + g.span.width || py < g.top || py > g.top + g.height) return;
    e.preventDefault(); // no text selection while dragging
    endDrag.current?.();
    const d = { start: px, end: px, span: g.span, domain: g.domain };
    const axis = axisKey;
    let frame = 0;
    const move = (ev: MouseEvent) => {
      d.end = ev.clientX - left();
      // one redraw per frame, however fast the mouse
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          setDrag({ ...d });
        });
    };
    const stop = () => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      if (frame) cancelAnimationFrame(frame);
      endDrag.current = null;
    };
    const up = (ev: MouseEvent) => {
      d.end = ev.clientX - left();
      stop();
      setDrag(null);
      const range = dragToRange(d.start, d.end, d.span, d.domain);
      if (range) setZoomState({ range, axis });
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
    endDrag.current = stop;
  };
  return { zoom, resetZoom: () => setZoomState(null), drag, onLayout, plotRef, onMouseDown, geometry };
}

/** Full screen on and off; Escape leaves it. */
export function useFullScreen(): [boolean, Dispatch<SetStateAction<boolean>>] {
  const [full, setFull] = useState(false);
  useEffect(() => {
    if (!full) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setFull(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [full]);
  return [full, setFull];
}

/** *Reset zoom* (while zoomed) and *Full screen* / *Exit full screen*, as every zoomable chart shows them. */
export function ChartButtons(props: { zoomed: boolean; onReset: () => void; full: boolean; onToggleFull: () => void }): ReactElement {
  return (
    <>
      {props.zoomed ? (
        <button type="button" className="small-button" data-testid="chart-reset-zoom" onClick={props.onReset}>
          Reset zoom
        </button>
      ) : null}
      <button
        type="button"
        className="small-button"
        data-testid="chart-fullscreen"
        aria-pressed={props.full}
        title={props.full ? 'Leave full screen (Esc)' : 'Fill the window with this chart'}
        onClick={props.onToggleFull}
      >
        {props.full ? 'Exit full screen' : 'Full screen'}
      </button>
    </>
  );
}

/** The range being dragged, drawn inside the chart (an element, not a component: recharts takes it as its own child). */
export function dragSelection(drag: { start: number; end: number; span: PlotSpan; domain: [number, number] } | null): ReactElement | null {
  if (!drag) return null;
  return (
    <ReferenceArea
      x1={pixelToX(drag.start, drag.span, drag.domain)}
      x2={pixelToX(drag.end, drag.span, drag.domain)}
      ifOverflow="hidden"
      fill="#0b61b5"
      fillOpacity={0.12}
      stroke="#0b61b5"
      strokeOpacity={0.5}
    />
  );
}
