import { useMemo, type ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';
import type { RunDetail } from '../../../shared/contract';
import { niceDomain } from '../../../shared/ticks';
import { buildAccounting, isStarFamily, phaseChartData, type AccountingRow, type AccountingTotals } from '../accounting';
import { formatPct } from '../format';
import { useElementWidth } from '../hooks';
import { PALETTE } from './charts';
import { Panel } from './common';
import '../analysis.css';

/** A count, shortened past 10 000 (12.3k, 4.56M). */
function formatCount(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function formatSeconds(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v >= 3600) return `${(v / 3600).toFixed(1)}h`;
  if (v >= 100) return `${Math.round(v)}s`;
  return `${v.toFixed(v < 1 && v !== 0 ? 2 : 1)}s`;
}

/** A phase keeps its colour in the chart whatever phases the run has. */
const PHASE_COLORS: Record<string, string> = {
  warmup: PALETTE[6]!,
  sample: PALETTE[0]!,
  rationalize: PALETTE[1]!,
  train: PALETTE[2]!,
  evaluate: PALETTE[3]!,
  verify: PALETTE[4]!,
};
const EXTRA = [PALETTE[5]!, PALETTE[7]!, '#999999'];

function phaseColor(phase: string, i: number): string {
  return PHASE_COLORS[phase] ?? EXTRA[i % EXTRA.length]!;
}

/** The kept cell's hover text: an iteration's training set, or (totals row) the training sets added up over iterations. */
function trainSetTitle(trainSet: number | null, total: boolean): string | undefined {
  if (trainSet === null) return undefined;
  return total ? `training sets summed over iterations: ${trainSet} examples` : `training set: ${trainSet} examples`;
}

function Cells({
  r,
  phases,
  tokens,
  total = false,
}: {
  r: AccountingTotals;
  phases: string[];
  tokens: boolean;
  total?: boolean;
}): ReactElement {
  const ratTitle =
    r.rationalizeAttempted !== null
      ? `${r.rationalized ?? 0} of ${r.rationalizeAttempted} attempted` +
        (r.hintCopied ? `; ${r.hintCopied} more copied the hint (dropped)` : '')
      : undefined;
  return (
    <>
      <td className="num">{formatCount(r.attempted)}</td>
      <td className="num">{formatCount(r.solvedDirect)}</td>
      <td className="num" title={ratTitle}>
        {formatCount(r.rationalized)}
        {r.rationalizeAttempted !== null ? <span className="sub">/ {formatCount(r.rationalizeAttempted)}</span> : null}
      </td>
      <td className="num" title={trainSetTitle(r.trainSet, total)} data-train-set={r.trainSet ?? ''}>
        {formatCount(r.kept)}
      </td>
      <td className="num">{formatPct(r.keptFraction)}</td>
      {tokens ? (
        <>
          <td className="num sep" title={r.tokensGeneratedTotal !== null ? `running total: ${r.tokensGeneratedTotal}` : undefined}>
            {formatCount(r.tokensGenerated)}
          </td>
          <td className="num" title={r.tokensTrainedTotal !== null ? `running total: ${r.tokensTrainedTotal}` : undefined}>
            {formatCount(r.tokensTrained)}
          </td>
          <td className="num muted">{formatCount(r.tokensGeneratedTotal)}</td>
          <td className="num muted">{formatCount(r.tokensTrainedTotal)}</td>
        </>
      ) : null}
      {phases.map((p, i) => (
        <td key={p} className={`num ${i === 0 ? 'sep' : ''}`}>
          {r.phaseSeconds[p] === undefined ? '' : formatSeconds(r.phaseSeconds[p])}
        </td>
      ))}
      <td className={`num ${phases.length ? '' : 'sep'}`}>{formatSeconds(r.wallSeconds)}</td>
    </>
  );
}

function PhaseChart({ data, phases }: { data: Record<string, number>[]; phases: string[] }): ReactElement | null {
  const [ref, width] = useElementWidth<HTMLDivElement>();
  // duration ticks over the tallest stack (ms, s, min, h; no repeated label)
  const y = useMemo(() => {
    let top = 0;
    for (const row of data)
      top = Math.max(
        top,
        phases.reduce((sum, p) => sum + (row[p] ?? 0), 0),
      );
    return niceDomain('duration', 0, top, 4);
  }, [data, phases]);
  if (!data.length || !phases.length) return null;
  return (
    <div ref={ref} className="chart accounting-chart" data-testid="accounting-chart" data-points={data.length}>
      {width > 0 ? (
        <BarChart width={width} height={200} data={data} margin={{ top: 4, right: 16, left: 8, bottom: 18 }}>
          <CartesianGrid stroke="#e6e6e6" strokeDasharray="2 3" vertical={false} />
          <XAxis
            dataKey="iteration"
            tick={{ fontSize: 11 }}
            stroke="#888"
            label={{ value: 'iteration', position: 'insideBottom', offset: -8, fontSize: 11, fill: '#555' }}
          />
          <YAxis
            width={58}
            tick={{ fontSize: 11 }}
            stroke="#888"
            domain={y.domain}
            ticks={y.ticks}
            interval={0}
            tickFormatter={y.format}
            label={{
              value: 'wall time',
              angle: -90,
              position: 'insideLeft',
              offset: 2,
              fontSize: 11,
              fill: '#555',
              style: { textAnchor: 'middle' },
            }}
          />
          <Tooltip
            isAnimationActive={false}
            formatter={(v) => (typeof v === 'number' ? formatSeconds(v) : String(v))}
            labelFormatter={(l) => `iteration ${String(l)}`}
            contentStyle={{ fontSize: 12, padding: '4px 8px' }}
          />
          <Legend verticalAlign="top" height={22} iconSize={10} itemSorter={null} wrapperStyle={{ fontSize: 11 }} />
          {phases.map((p, i) => (
            <Bar key={p} dataKey={p} name={p} stackId="wall" fill={phaseColor(p, i)} isAnimationActive={false} />
          ))}
        </BarChart>
      ) : (
        <div style={{ height: 200 }} />
      )}
    </div>
  );
}

/**
 * Accounting per iteration of a STaR-family run: questions attempted, solved directly,
 * rationalized and kept, the share of training questions used, tokens generated and trained
 * (per iteration and cumulative), seconds per phase; with a stacked bar chart of the wall time
 * per phase. Renders nothing for other runs or before the first accounting is logged.
 */
export function AccountingPanel({ run }: { run: RunDetail }): ReactElement | null {
  const applies = isStarFamily(run);
  const table = useMemo(() => (applies ? buildAccounting(run) : null), [applies, run]);
  const chart = useMemo(() => (table ? phaseChartData(table) : []), [table]);
  if (!table || !table.rows.length) return null;
  const { rows, totals, phases, counterRestarts } = table;
  const hasRationalize = rows.some((r) => r.rationalizeAttempted !== null && r.rationalizeAttempted > 0);
  const fromMetrics = rows.some((r) => r.phaseSource === 'metrics');
  // runs from before the compute/* counters existed have no token columns
  const tokens = totals.tokensGeneratedTotal !== null || totals.tokensTrainedTotal !== null;
  const iterationLabel = (r: AccountingRow): string => (r.iteration === 0 && r.attempted === null ? '0 (warm-up)' : String(r.iteration));

  return (
    <Panel title="Accounting per iteration" testId="accounting-panel">
      <div className="accounting-scroll">
        <table className="table compact accounting-table" data-testid="accounting-table" data-rows={rows.length}>
          <thead>
            <tr>
              <th rowSpan={2}>it</th>
              <th colSpan={5} className="group">
                training questions
              </th>
              {tokens ? (
                <th colSpan={4} className="group">
                  tokens (this iteration · cumulative)
                </th>
              ) : null}
              {phases.length ? (
                <th colSpan={phases.length} className="group">
                  seconds per phase
                </th>
              ) : null}
              <th rowSpan={2} className="num sep" title="time/iteration_s where logged, else the sum of the phases">
                wall
              </th>
            </tr>
            <tr>
              <th className="num">attempted</th>
              <th className="num">solved directly</th>
              <th className="num" title={hasRationalize ? 'rationalized / rationalization attempted' : 'no rationalization in this run'}>
                rationalized
              </th>
              <th className="num" title="distinct correct rationales kept for fine-tuning">
                kept
              </th>
              <th className="num" title="share of attempted questions with a kept rationale (train/kept_fraction)">
                share used
              </th>
              {tokens ? (
                <>
                  <th className="num sep">generated</th>
                  <th className="num">trained</th>
                  <th className="num">generated Σ</th>
                  <th className="num">trained Σ</th>
                </>
              ) : null}
              {phases.map((p, i) => (
                <th key={p} className={`num ${i === 0 ? 'sep' : ''}`}>
                  {p}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr
                key={r.iteration}
                data-testid="accounting-row"
                data-iteration={r.iteration}
                data-kept={r.kept ?? ''}
                data-kept-fraction={r.keptFraction ?? ''}
              >
                <td className="num">{iterationLabel(r)}</td>
                <Cells r={r} phases={phases} tokens={tokens} />
              </tr>
            ))}
            <tr
              className="totals"
              data-testid="accounting-totals"
              data-kept={totals.kept ?? ''}
              data-kept-fraction={totals.keptFraction ?? ''}
            >
              <td>total</td>
              <Cells r={totals} phases={phases} tokens={tokens} total />
            </tr>
          </tbody>
        </table>
      </div>
      <div className="muted small analysis-caption">
        Share used: attempted questions with at least one kept rationale (the total weights iterations by questions attempted).
        {tokens ? " Token counts are the change of the run's cumulative counters; Σ columns add them up." : ''}
        {tokens && counterRestarts.length
          ? ` A counter dropped at iteration${counterRestarts.length === 1 ? '' : 's'} ${counterRestarts.join(', ')} (restarted from zero): there the count is its new value.`
          : ''}
        {fromMetrics ? ' Phase times without phase records come from the logged time/*_s metrics.' : ''}
      </div>
      <PhaseChart data={chart} phases={phases} />
    </Panel>
  );
}
