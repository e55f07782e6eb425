/** The scores of right vs wrong candidates at one iteration, as overlaid histograms. */
import { type ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';
import type { VerifierStats } from '../../../../shared/analysis';
import { formatNumber, formatPct } from '../../format';
import { useElementWidth } from '../../hooks';
import { SCORER_LABELS } from '../../../../shared/catalogue';
import { PALETTE } from '../charts';

export function Histogram({ stats, normalized }: { stats: VerifierStats; normalized: boolean }): ReactElement {
  const [ref, width] = useElementWidth<HTMLDivElement>();
  const rn = Math.max(1, stats.right.n);
  const wn = Math.max(1, stats.wrong.n);
  const data = stats.bins.map((b) => ({
    mid: formatNumber(Number(((b.lo + b.hi) / 2).toPrecision(3))),
    range: `${formatNumber(b.lo)} … ${formatNumber(b.hi)}`,
    right: normalized ? b.right / rn : b.right,
    wrong: normalized ? b.wrong / wn : b.wrong,
  }));
  const fmt = (v: number): string => (normalized ? formatPct(v, 0) : formatNumber(v));
  return (
    <div
      ref={ref}
      className="chart"
      data-testid="verifier-histogram"
      data-bins={stats.bins.length}
      data-right={stats.right.n}
      data-wrong={stats.wrong.n}
      data-scorer={stats.scorer}
    >
      {!stats.bins.length ? (
        <div className="chart-empty" style={{ height: 200 }}>
          No scored candidates at this iteration.
        </div>
      ) : width > 0 ? (
        <BarChart width={width} height={220} data={data} margin={{ top: 4, right: 16, left: 8, bottom: 18 }} barCategoryGap={1}>
          <CartesianGrid stroke="#e6e6e6" strokeDasharray="2 3" vertical={false} />
          <XAxis
            xAxisId="right"
            dataKey="mid"
            tick={{ fontSize: 10 }}
            stroke="#888"
            interval="preserveStartEnd"
            label={{ value: `${SCORER_LABELS[stats.scorer]} score`, position: 'insideBottom', offset: -8, fontSize: 11, fill: '#555' }}
          />
          {/* a second, hidden category axis: the wrong bars sit on the right bars instead of beside them */}
          <XAxis xAxisId="wrong" dataKey="mid" hide />
          <YAxis
            width={48}
            tick={{ fontSize: 11 }}
            stroke="#888"
            tickFormatter={fmt}
            label={{
              value: normalized ? 'share of class' : 'candidates',
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
            formatter={(v) => (typeof v === 'number' ? fmt(v) : String(v))}
            labelFormatter={(_l, payload) => {
              const p = payload?.[0]?.payload as { range?: string } | undefined;
              return p?.range ?? '';
            }}
            contentStyle={{ fontSize: 12, padding: '4px 8px' }}
          />
          <Legend verticalAlign="top" height={22} iconSize={10} itemSorter={null} wrapperStyle={{ fontSize: 11 }} />
          <Bar
            xAxisId="right"
            dataKey="right"
            name={`right (n=${stats.right.n})`}
            fill={PALETTE[2]!}
            fillOpacity={0.55}
            isAnimationActive={false}
          />
          <Bar
            xAxisId="wrong"
            dataKey="wrong"
            name={`wrong (n=${stats.wrong.n})`}
            fill={PALETTE[4]!}
            fillOpacity={0.55}
            isAnimationActive={false}
          />
        </BarChart>
      ) : (
        <div style={{ height: 220 }} />
      )}
      <div className="verifier-stats">
        <span data-testid="verifier-mean-right">
          mean right <span className="mono">{formatNumber(stats.right.mean)}</span>
        </span>
        <span data-testid="verifier-mean-wrong">
          mean wrong <span className="mono">{formatNumber(stats.wrong.mean)}</span>
        </span>
        {stats.right.mean !== null && stats.wrong.mean !== null ? (
          <span>
            gap <span className="mono">{formatNumber(stats.right.mean - stats.wrong.mean)}</span>
          </span>
        ) : null}
      </div>
    </div>
  );
}
