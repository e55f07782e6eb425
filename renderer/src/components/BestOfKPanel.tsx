import { useMemo, useState, type ReactElement } from 'react';
import type { RunDetail } from '../../../shared/contract';
import { formatPct } from '../format';
import { SCORERS } from '../../../shared/catalogue';
import { bestOfKCurves, bestOfKSummary, methodLook, vstarIterations } from '../vstar';
import { LineChartPanel, PALETTE, type Series } from './charts';
import { IterationSelect, Panel } from './common';

/** Fixed look per method (vstar.ts methodLook), so a method keeps its colour across iterations, runs and panels. */
function fixedStyle(key: string): { color: string; strokeWidth?: number; dash?: string } | null {
  const look = methodLook(key);
  return look ? { color: look.slot === null ? PASS_GREY : PALETTE[look.slot]!, strokeWidth: look.strokeWidth, dash: look.dash } : null;
}
const PASS_GREY = '#777777';
/** Colours of scorers outside the catalogue: the palette's slots no method takes. */
const EXTRA = PALETTE.filter((_, i) => i !== 1 && !SCORERS.some((s) => methodLook(s)?.slot === i));

/** Linear-axis ticks for k = 1..n: 1, then multiples of a power of two (at most ~9), and n. */
function linearTicks(n: number): number[] {
  const step = 2 ** Math.max(0, Math.ceil(Math.log2(n / 8)));
  const ticks = [1];
  for (let k = step; k <= n; k += step) if (k > 1) ticks.push(k);
  if (ticks.at(-1)! < n) {
    if (n - ticks.at(-1)! < step / 2 && ticks.length > 1) ticks.pop();
    ticks.push(n);
  }
  return ticks;
}

/**
 * V-STaR's test-time curves: accuracy against k (candidates per question, 1..N) for pass@k,
 * majority vote and Best-of-k by each verifier, for one iteration (default: the latest, which
 * it follows while the run goes on). Renders nothing for a run without vstar/* metrics.
 */
export function BestOfKPanel({ run }: { run: RunDetail }): ReactElement | null {
  const iterations = useMemo(() => vstarIterations(run.metrics), [run.metrics]);
  // null: follow the latest iteration
  const [picked, setPicked] = useState<number | null>(null);
  // null: automatic (log2 once N > 8)
  const [logX, setLogX] = useState<boolean | null>(null);
  const latest = iterations.at(-1);
  const iteration = picked !== null && iterations.includes(picked) ? picked : latest;
  const curves = useMemo(() => (iteration === undefined ? [] : bestOfKCurves(run.metrics, iteration)), [run.metrics, iteration]);
  const summary = useMemo(() => bestOfKSummary(curves), [curves]);
  const series = useMemo<Series[]>(() => {
    let extra = 0;
    return curves.map((c) => {
      const st = fixedStyle(c.key) ?? { color: EXTRA[extra++ % EXTRA.length]! };
      return { key: c.key, name: c.label, color: st.color, strokeWidth: st.strokeWidth, dash: st.dash, points: c.points };
    });
  }, [curves]);
  if (iteration === undefined) return null;

  // N: the largest k logged (verifier.candidates)
  const n = summary.n ?? 1;
  const log2 = logX ?? n > 8;
  const pass1 = summary.rows.find((r) => r.key === 'pass')?.at1 ?? null;

  return (
    <Panel
      title="Best-of-k: accuracy against candidates per question"
      testId="bestofk-panel"
      actions={
        <>
          <IterationSelect label="iteration" iterations={iterations} value={iteration} onPick={setPicked} testId="bestofk-iteration" />
          <label className="inline-control">
            <input type="checkbox" data-testid="bestofk-log2" checked={log2} onChange={(e) => setLogX(e.target.checked)} /> log₂ k
          </label>
        </>
      }
    >
      <div className="bestofk">
        <LineChartPanel
          testId="bestofk-chart"
          series={series}
          height={280}
          xLabel="k (candidates per question)"
          yLabel="accuracy"
          integerX
          xScale={log2 ? 'log2' : 'linear'}
          xTicks={log2 ? undefined : linearTicks(n)}
          xDomain={[1, n]}
          yDomain={[0, 1]}
          yFormat={(v) => `${Math.round(v * 100)}%`}
          legend
          data={{ iteration, n, methods: curves.map((c) => c.key).join(' ') }}
        />
        <table className="table compact fit bestofk-table" data-testid="bestofk-table" data-iteration={iteration}>
          <thead>
            <tr>
              <th>method</th>
              <th className="num">k = 1</th>
              <th className="num">k = {n}</th>
              <th className="num" title={`at k = ${n}, in percentage points, against pass@1`}>
                vs pass@1
              </th>
            </tr>
          </thead>
          <tbody>
            {summary.rows.map((r) => {
              const name =
                r.key === 'pass' ? 'pass@k (oracle)' : r.key === 'majority' ? 'majority vote' : r.label.replace('Best-of-k', 'best-of-k');
              const gain = pass1 !== null && r.key !== 'pass' ? (r.atMax - pass1) * 100 : null;
              return (
                <tr key={r.key} data-testid={`bestofk-row-${r.key}`} data-at1={r.at1 ?? ''} data-atn={r.atMax} data-n={r.kMax}>
                  <td>
                    <span className="swatch" style={{ background: (fixedStyle(r.key) ?? series.find((s) => s.key === r.key))?.color }} />
                    {name}
                  </td>
                  <td className="num mono">{formatPct(r.at1)}</td>
                  <td className="num mono" title={`k = ${r.kMax}`}>
                    {formatPct(r.atMax)}
                    {r.kMax !== n ? <span className="muted"> (k={r.kMax})</span> : null}
                  </td>
                  <td className="num mono">{gain === null ? '' : `${gain >= 0 ? '+' : '−'}${Math.abs(gain).toFixed(1)}`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <div className="muted small">
          N = {n} candidates per held-out question at iteration {iteration}; unbiased estimates over subsets of size k. pass@k counts a
          question solved when any of k candidates is right (an upper bound for any selector).
        </div>
      </div>
    </Panel>
  );
}
