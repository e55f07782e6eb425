import { memo, useCallback, useMemo, useState, type ReactElement } from 'react';
import type { RunDetail } from '../../../shared/contract';
import type { ThoughtRow, ThoughtToken } from '../../../shared/analysis';
import { formatNumber } from '../format';
import { useLive } from '../hooks';
import { perStep } from '../metrics';
import { call } from '../transport';
import { LineChartPanel, PALETTE, type Series } from './charts';
import { IterationSelect, Panel } from './common';
import { runDataVersion, useReloadOnNewData } from './verifier/data-version';
import '../analysis.css';

type Source = 'eval' | 'train';
const LIMIT = 20;
/** Tokens rendered per row until "show all": a long document would otherwise mount thousands of spans per row. */
export const TOKENS_SHOWN = 400;

/**
 * Evaluation tokens: tinted by the mixing weight w, scaled to the largest |w| shown (early in
 * training the weights are small and would not show on a fixed scale). This implementation's
 * mixing head has no sigmoid, so w is unbounded: it can be negative or above 1. The scale
 * diverges: blue for w > 0, purple for w < 0, intensity by |w|.
 */
const W_RGB = '0, 114, 178';
const W_NEG_RGB = '204, 121, 167';
/** Training tokens: green for a positive reward (the thought helped predict what follows), vermillion for a negative one. */
const POS_RGB = '0, 158, 115';
const NEG_RGB = '213, 94, 0';
const MAX_ALPHA = 0.55;

function hasThought(t: ThoughtToken): boolean {
  return t.thought.trim().length > 0;
}

/** The tint of a token: by reward (scaled by the largest |reward| shown) or by mixing weight (scaled by the largest shown). */
export function tokenTint(t: ThoughtToken, source: Source, scale: number): string | undefined {
  if (source === 'train') {
    if (t.reward === null || !Number.isFinite(t.reward) || scale <= 0) return undefined;
    const a = (Math.min(1, Math.abs(t.reward) / scale) * MAX_ALPHA).toFixed(3);
    return `rgba(${t.reward >= 0 ? POS_RGB : NEG_RGB}, ${a})`;
  }
  if (t.w === null || !Number.isFinite(t.w) || scale <= 0) return undefined;
  return `rgba(${t.w >= 0 ? W_RGB : W_NEG_RGB}, ${(Math.min(1, Math.abs(t.w) / scale) * MAX_ALPHA).toFixed(3)})`;
}

function mean(xs: (number | null)[]): number | null {
  let s = 0;
  let n = 0;
  for (const x of xs)
    if (x !== null && Number.isFinite(x)) {
      s += x;
      n++;
    }
  return n ? s / n : null;
}

function Legend({ source, scale, negative }: { source: Source; scale: number; negative: boolean }): ReactElement {
  if (source === 'train')
    return (
      <span className="thought-legend" data-testid="thoughts-legend">
        reward <span className="mono">−{formatNumber(scale)}</span>
        <span
          className="ramp"
          style={{
            background: `linear-gradient(to right, rgba(${NEG_RGB}, ${MAX_ALPHA}), rgba(${NEG_RGB}, 0) 50%, rgba(${POS_RGB}, 0) 50%, rgba(${POS_RGB}, ${MAX_ALPHA}))`,
          }}
        />
        <span className="mono">+{formatNumber(scale)}</span>
        <span>(the largest |reward| shown)</span>
        <span>· ° a thought: hover to read, click to open</span>
      </span>
    );
  // w is unbounded (no sigmoid): the ramp runs to the largest |w| shown, through 0 when some w is negative.
  return (
    <span className="thought-legend" data-testid="thoughts-legend" data-negative={negative ? 1 : 0}>
      mixing weight <span className="mono">{negative ? `−${formatNumber(scale)}` : '0'}</span>
      <span
        className="ramp"
        style={{
          background: negative
            ? `linear-gradient(to right, rgba(${W_NEG_RGB}, ${MAX_ALPHA}), rgba(${W_NEG_RGB}, 0) 50%, rgba(${W_RGB}, 0) 50%, rgba(${W_RGB}, ${MAX_ALPHA}))`
            : `linear-gradient(to right, rgba(${W_RGB}, 0), rgba(${W_RGB}, ${MAX_ALPHA}))`,
        }}
      />
      <span className="mono">{negative ? `+${formatNumber(scale)}` : formatNumber(scale)}</span>
      <span>(the largest |w| shown; w is unbounded)</span>
      <span>· ° a thought: hover to read, click to open</span>
    </span>
  );
}

/** One token; memoized (props are stable: `onToggle` takes the index) so opening one thought re-renders one token. */
const TokenView = memo(function TokenView({
  t,
  index,
  source,
  scale,
  open,
  onToggle,
}: {
  t: ThoughtToken;
  index: number;
  source: Source;
  scale: number;
  open: boolean;
  onToggle: (i: number) => void;
}): ReactElement {
  const bg = tokenTint(t, source, scale);
  const toggle = (): void => onToggle(index);
  if (!hasThought(t))
    return (
      <span className="thought-tok" style={bg ? { background: bg } : undefined}>
        {t.token}
      </span>
    );
  const facts = [t.w !== null ? `w = ${formatNumber(t.w)}` : null, t.reward !== null ? `reward = ${formatNumber(t.reward)}` : null]
    .filter(Boolean)
    .join(', ');
  return (
    <>
      <span
        className="thought-tok has-thought"
        style={bg ? { background: bg } : undefined}
        data-testid="thought-token"
        data-w={t.w ?? ''}
        data-reward={t.reward ?? ''}
        data-open={open ? 1 : 0}
        title={`thought: ${t.thought}${facts ? `\n${facts}` : ''}`}
        onClick={toggle}
      >
        {t.token}
      </span>
      {open ? (
        <span className="thought-box" data-testid="thought-box" onClick={toggle}>
          ⟨{t.thought}⟩
        </span>
      ) : (
        <sup className="thought-mark" onClick={toggle} aria-hidden>
          °
        </sup>
      )}
    </>
  );
});

function RowView({
  row,
  index,
  source,
  scale,
  showAll,
}: {
  row: ThoughtRow;
  index: number;
  source: Source;
  scale: number;
  showAll: boolean;
}): ReactElement {
  const [open, setOpen] = useState<Set<number>>(new Set());
  const [allTokens, setAllTokens] = useState(false);
  const toggle = useCallback((i: number): void => {
    setOpen((cur) => {
      const next = new Set(cur);
      if (next.has(i)) next.delete(i);
      else next.add(i);
      return next;
    });
  }, []);
  const shown = allTokens ? row.tokens : row.tokens.slice(0, TOKENS_SHOWN);
  const more = row.tokens.length - shown.length;
  const meanW = mean(row.tokens.map((t) => t.w));
  const meanR = mean(row.tokens.map((t) => t.reward));
  return (
    <div className="thought-row" data-testid="thought-row" data-row={index} data-correct={row.correct === null ? '' : row.correct ? 1 : 0}>
      <div className="thought-row-head">
        {row.correct !== null ? <span className={row.correct ? 'yes' : 'no'}>{row.correct ? '✓' : '✗'}</span> : null}
        {row.step !== null ? <span className="muted">step {row.step}</span> : null}
        {row.question !== null ? (
          <span className="mono ellipsis" title={row.question}>
            {row.question}
          </span>
        ) : null}
        {row.gold !== null ? (
          <span className="muted">
            gold <span className="mono">{row.gold}</span>
          </span>
        ) : null}
        <span className="spacer" />
        {meanW !== null ? <span className="muted">mean w {formatNumber(meanW)}</span> : null}
        {meanR !== null ? <span className="muted">mean reward {formatNumber(meanR)}</span> : null}
      </div>
      <div className="thought-text">
        {shown.map((t, i) => (
          <TokenView key={i} t={t} index={i} source={source} scale={scale} open={showAll !== open.has(i)} onToggle={toggle} />
        ))}
        {more > 0 ? (
          <button type="button" className="small-button" data-testid="thought-row-more" onClick={() => setAllTokens(true)}>
            show all ({more} more token{more === 1 ? '' : 's'})
          </button>
        ) : null}
      </div>
    </div>
  );
}

function ThoughtCharts({ run }: { run: RunDetail }): ReactElement {
  const mix = useMemo<Series[]>(
    () =>
      [
        {
          key: 'train',
          name: 'training (quiet/mix_weight_mean)',
          color: PALETTE[0]!,
          points: perStep(run.metrics['quiet/mix_weight_mean']),
        },
        {
          key: 'eval',
          name: 'evaluation (eval/mix_weight_mean)',
          color: PALETTE[1]!,
          strokeWidth: 2,
          points: perStep(run.metrics['eval/mix_weight_mean']),
        },
      ].filter((s) => s.points.length),
    [run.metrics],
  );
  const reward = useMemo<Series[]>(() => {
    const m = perStep(run.metrics['quiet/reward_mean']);
    const out: Series[] = [{ key: 'mean', name: 'reward mean', color: PALETTE[2]!, strokeWidth: 1.75, points: m }];
    // ±1 std as two thin dashed lines (where the std was logged at the same step)
    const std = new Map(perStep(run.metrics['quiet/reward_std']).map((p) => [p.x, p.y]));
    if (std.size && m.length) {
      const hi = m.filter((p) => std.has(p.x)).map((p) => ({ x: p.x, y: p.y + std.get(p.x)! }));
      const lo = m.filter((p) => std.has(p.x)).map((p) => ({ x: p.x, y: p.y - std.get(p.x)! }));
      out.push({ key: 'hi', name: 'mean + std', color: '#9ccfbf', strokeWidth: 1, dash: '3 3', points: hi });
      out.push({ key: 'lo', name: 'mean − std', color: '#9ccfbf', strokeWidth: 1, dash: '3 3', points: lo });
    }
    return out.filter((s) => s.points.length);
  }, [run.metrics]);
  return (
    <div className="analysis-grid" data-testid="thoughts-chart">
      <div>
        <div className="analysis-section-title">Mixing weight over training</div>
        <LineChartPanel
          testId="thoughts-chart-mix"
          series={mix}
          height={200}
          xLabel="step"
          yLabel="mixing weight"
          integerX
          legend
          empty="No mixing weights logged yet."
        />
      </div>
      <div>
        <div className="analysis-section-title">Thought reward over training</div>
        <LineChartPanel
          testId="thoughts-chart-reward"
          series={reward}
          height={200}
          xLabel="step"
          yLabel="reward"
          integerX
          legend
          empty="No rewards logged yet."
        />
      </div>
    </div>
  );
}

function ThoughtsBody({ run }: { run: RunDetail }): ReactElement {
  const [source, setSource] = useState<Source>('eval');
  // null: follow the latest iteration
  const [picked, setPicked] = useState<number | null>(null);
  const [showAll, setShowAll] = useState(false);
  const thoughts = useLive(
    () => call('getThoughts', run.id, { source, limit: LIMIT, ...(picked !== null ? { iteration: picked } : {}) }),
    [run.id, source, picked],
  );
  useReloadOnNewData(runDataVersion(run), thoughts);
  const r = thoughts.data?.ok ? thoughts.data : null;
  const iterations = r?.iterations ?? [];
  const iteration = picked ?? r?.iteration;
  // the colour scale: the largest |reward| (training) or weight (evaluation) shown
  const { scale, negative } = useMemo(() => {
    let m = 0;
    let neg = false;
    for (const row of r?.rows ?? [])
      for (const t of row.tokens) {
        const v = r!.source === 'train' ? t.reward : t.w;
        if (v !== null && Number.isFinite(v)) {
          m = Math.max(m, Math.abs(v));
          if (v < 0) neg = true;
        }
      }
    return { scale: m, negative: neg };
  }, [r]);

  return (
    <Panel
      title="Thoughts"
      testId="thoughts-panel"
      actions={
        <>
          <label className="inline-control">
            source{' '}
            <select
              data-testid="thoughts-source"
              value={source}
              onChange={(e) => {
                setSource(e.target.value as Source);
                setPicked(null);
              }}
            >
              <option value="eval">evaluation (per question)</option>
              <option value="train">training (with rewards)</option>
            </select>
          </label>
          <IterationSelect
            label={source === 'eval' ? 'evaluation' : 'iteration'}
            iterations={iterations}
            value={iteration}
            onPick={setPicked}
            testId="thoughts-iteration"
          />
          <label className="inline-control">
            <input type="checkbox" data-testid="thoughts-show-all" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} /> open
            every thought
          </label>
        </>
      }
    >
      <ThoughtCharts run={run} />
      <div className="analysis-bar" style={{ marginTop: 8 }}>
        <Legend source={r?.source ?? source} scale={scale || 1} negative={negative} />
        <span className="spacer" />
        {r ? (
          <span className="muted small" data-testid="thoughts-count">
            {r.rows.length} {source === 'eval' ? 'question' : 'document'}
            {r.rows.length === 1 ? '' : 's'}
            {source === 'eval' ? ` · ${r.rows.filter((x) => x.correct).length} right` : ''}
          </span>
        ) : null}
      </div>
      {thoughts.error ? <div className="field-error">{thoughts.error}</div> : null}
      {thoughts.data && !thoughts.data.ok ? <div className="muted">{thoughts.data.message}</div> : null}
      {r?.message ? (
        <div className="warning-note small" data-testid="thoughts-message">
          {r.message}
        </div>
      ) : null}
      {r && !r.rows.length ? (
        <div className="muted">No thoughts stored at this {source === 'eval' ? 'evaluation' : 'iteration'}.</div>
      ) : null}
      {r?.rows.length ? (
        <div className="thought-rows" data-testid="thought-rows" data-source={r.source} data-iteration={r.iteration}>
          {r.rows.map((row, i) => (
            <RowView key={`${r.source}:${r.iteration}:${i}`} row={row} index={i} source={r.source} scale={scale} showAll={showAll} />
          ))}
        </div>
      ) : null}
    </Panel>
  );
}

/**
 * Quiet-STaR's thoughts: the text with the thought sampled after each token (hover to read,
 * click to open inline), tokens tinted by the mixing weight (evaluation) or the thought's reward
 * (training), and the mixing weight and reward over training steps. Renders nothing for other runs.
 */
export function ThoughtsPanel({ run }: { run: RunDetail }): ReactElement | null {
  if (run.variant !== 'quiet-star') return null;
  return <ThoughtsBody run={run} />;
}
