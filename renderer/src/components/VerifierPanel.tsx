import { useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';
import type { CurveResult, RunDetail } from '../../../shared/contract';
import type { VerifierStats } from '../../../shared/analysis';
import { formatNumber, formatPct } from '../format';
import { useDebounced, useElementWidth, useLive, type Live } from '../hooks';
import { perIteration } from '../metrics';
import { call } from '../transport';
import { SCORERS, SCORER_LABELS, SCORE_KEYS, type Scorer } from '../../../shared/catalogue';
import { bestOfKLabel, methodLook, vstarIterations } from '../vstar';
import { LineChartPanel, PALETTE, type Series } from './charts';
import { IterationSelect, Panel } from './common';
import '../analysis.css';

const PAGE = 20;
const BINS = 24;

/**
 * Changes whenever a run may have stored new candidates or thoughts: when a phase ends or the
 * status changes. The run object itself changes identity on every reload (every 5 s while it
 * runs), too often to refetch on.
 */
export function runDataVersion(run: RunDetail): string {
  let ended = 0;
  for (const p of run.phases) if (p.endedAt !== null || p.durationS !== null) ended++;
  return `${run.id}:${run.status}:${ended}:${run.phases.length}`;
}

/** Reload these queries (keeping what they show until the answer comes) when the run's data version changes. */
export function useReloadOnNewData(version: string, ...lives: Live<unknown>[]): void {
  const last = useRef(version);
  const ref = useRef(lives);
  ref.current = lives;
  useEffect(() => {
    if (last.current === version) return;
    last.current = version;
    for (const l of ref.current) l.reload();
  }, [version]);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- curves

interface CurveSpec {
  key: string;
  label: string;
  kind: 'best-of-k' | 'majority' | 'pass-at-k';
  scorer?: Scorer;
  color: string;
  strokeWidth?: number;
  dash?: string;
}

/** The look of a method: the same as BestOfKPanel's (vstar.ts methodLook), so a method keeps its colour across the two panels. */
function look(key: string): Pick<CurveSpec, 'color' | 'strokeWidth' | 'dash'> {
  const l = methodLook(key);
  return { color: !l || l.slot === null ? '#777777' : PALETTE[l.slot]!, strokeWidth: l?.strokeWidth, dash: l?.dash };
}

const CURVES: CurveSpec[] = [
  ...SCORERS.map((scorer): CurveSpec => ({ key: scorer, label: bestOfKLabel(SCORER_LABELS[scorer]), kind: 'best-of-k', scorer, ...look(scorer) })),
  { key: 'majority', label: 'majority vote', kind: 'majority', ...look('majority') },
  { key: 'pass', label: 'pass@k (oracle)', kind: 'pass-at-k', ...look('pass') },
];

interface CurveOutcome {
  spec: CurveSpec;
  result: CurveResult | null;
  error: string | null;
}

/** Every curve of one iteration (undefined: the latest with candidates); a scorer the run lacks comes back not ok. */
function fetchCurves(runId: string, iteration: number | undefined): Promise<CurveOutcome[]> {
  return Promise.all(
    CURVES.map(async (spec): Promise<CurveOutcome> => {
      try {
        const result = await call('getCurve', runId, {
          kind: spec.kind,
          ...(iteration !== undefined ? { iteration } : {}),
          ...(spec.scorer ? { scorer: spec.scorer } : {}),
        });
        return { spec, result, error: null };
      } catch (err) {
        return { spec, result: null, error: errorText(err) };
      }
    }),
  );
}

function CurveChart({ outcomes }: { outcomes: CurveOutcome[] }): ReactElement {
  const series: Series[] = [];
  let n = 1;
  let info: { iteration: number; questions: number; candidates: number } | null = null;
  for (const o of outcomes) {
    if (!o.result?.ok || !o.result.points.length) continue;
    const r = o.result;
    info ??= { iteration: r.iteration, questions: r.questions, candidates: r.candidates };
    n = Math.max(n, ...r.points.map((p) => p.k));
    series.push({ key: o.spec.key, name: o.spec.label, color: o.spec.color, strokeWidth: o.spec.strokeWidth, dash: o.spec.dash, points: r.points.map((p) => ({ x: p.k, y: p.value })) });
  }
  const errors = outcomes.filter((o) => o.error !== null);
  const notOk = outcomes.find((o) => o.result && !o.result.ok);
  return (
    <div>
      <LineChartPanel
        testId="verifier-curve-chart"
        series={series}
        height={260}
        xLabel="k (candidates per question)"
        yLabel="accuracy"
        integerX
        xScale={n > 8 ? 'log2' : 'linear'}
        xDomain={[1, n]}
        yDomain={[0, 1]}
        yFormat={(v) => `${Math.round(v * 100)}%`}
        legend
        empty={notOk && notOk.result && !notOk.result.ok ? notOk.result.message : 'No stored candidates yet.'}
        data={{ methods: series.map((s) => s.key).join(' '), n, iteration: info?.iteration ?? '' }}
      />
      <div className="muted small analysis-caption">
        {info ? `Recounted from ${info.candidates} stored candidates of ${info.questions} held-out questions at iteration ${info.iteration}. ` : ''}
        {errors.length ? <span className="field-error">{errors[0]!.error}</span> : null}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------- histogram

function Histogram({ stats, normalized }: { stats: VerifierStats; normalized: boolean }): ReactElement {
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
    <div ref={ref} className="chart" data-testid="verifier-histogram" data-bins={stats.bins.length} data-right={stats.right.n} data-wrong={stats.wrong.n} data-scorer={stats.scorer}>
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
            label={{ value: normalized ? 'share of class' : 'candidates', angle: -90, position: 'insideLeft', offset: 2, fontSize: 11, fill: '#555', style: { textAnchor: 'middle' } }}
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
          <Bar xAxisId="right" dataKey="right" name={`right (n=${stats.right.n})`} fill={PALETTE[2]!} fillOpacity={0.55} isAnimationActive={false} />
          <Bar xAxisId="wrong" dataKey="wrong" name={`wrong (n=${stats.wrong.n})`} fill={PALETTE[4]!} fillOpacity={0.55} isAnimationActive={false} />
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

// ---------------------------------------------------------------- question browser

function QuestionBrowser({
  runId,
  iteration,
  scorer,
  version,
}: {
  runId: string;
  iteration: number | undefined;
  scorer: Scorer;
  version: string;
}): ReactElement {
  const [search, setSearch] = useState('');
  const query = useDebounced(search.trim(), 250);
  // the page offset belongs to one search at one iteration: a new one starts at the first page
  const pageKey = `${query}\u0000${iteration ?? ''}`;
  const [page, setPage] = useState({ key: pageKey, offset: 0 });
  const offset = page.key === pageKey ? page.offset : 0;
  const setOffset = (o: number): void => setPage({ key: pageKey, offset: o });
  // The question picked belongs to one iteration: another iteration has other candidates.
  const iterKey = String(iteration ?? '');
  const [pickedQuestion, setPickedQuestion] = useState<{ key: string; id: string | null }>({ key: iterKey, id: null });
  const questionId = pickedQuestion.key === iterKey ? pickedQuestion.id : null;
  const setQuestionId = (id: string | null): void => setPickedQuestion({ key: iterKey, id });
  // Rows opened are keyed by rank, and a rank means another candidate under another scorer,
  // question or iteration: a change of any of them closes them all.
  const expandKey = `${iterKey}\u0000${questionId ?? ''}\u0000${scorer}`;
  const [opened, setOpened] = useState<{ key: string; ranks: Set<number> }>({ key: expandKey, ranks: new Set() });
  const expanded = opened.key === expandKey ? opened.ranks : new Set<number>();
  const setExpanded = (ranks: Set<number>): void => setOpened({ key: expandKey, ranks });
  const itArg = iteration !== undefined ? { iteration } : {};
  const questions = useLive(
    () => call('getCandidateQuestions', runId, { ...itArg, limit: PAGE, offset, ...(query ? { search: query } : {}) }),
    [runId, iteration, query, offset],
  );
  const candidates = useLive(
    () => (questionId === null ? Promise.resolve(null) : call('getCandidates', runId, { ...itArg, questionId, scorer })),
    [runId, iteration, questionId, scorer],
  );
  useReloadOnNewData(version, questions, candidates);

  const q = questions.data;
  const rows = q?.ok ? q.rows : [];
  const total = q?.ok ? q.total : 0;
  const c = candidates.data;
  const scoreKeys = c?.ok ? [...new Set(c.candidates.flatMap((x) => Object.keys(x.scores ?? {})))].sort((a, b) => (a === SCORE_KEYS[scorer] ? -1 : b === SCORE_KEYS[scorer] ? 1 : a.localeCompare(b))) : [];

  return (
    <div className="verifier-browser">
      <div className="analysis-bar">
        <input
          type="search"
          placeholder="search questions"
          data-testid="verifier-search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <span className="muted small" data-testid="verifier-question-count">
          {rows.length ? `${offset + 1}–${offset + rows.length} of ${total}` : questions.loading ? '' : 'no questions'}
        </span>
        <div className="spacer" />
        <button type="button" className="small-button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ‹ prev
        </button>
        <button type="button" className="small-button" disabled={offset + rows.length >= total} onClick={() => setOffset(offset + PAGE)}>
          next ›
        </button>
      </div>
      {questions.error ? <div className="field-error">{questions.error}</div> : null}
      {q && !q.ok ? <div className="muted">{q.message}</div> : null}
      {rows.length ? (
        <div className="analysis-scroll">
          <table className="table compact analysis-table">
            <thead>
              <tr>
                <th>question</th>
                <th className="num">gold</th>
                <th className="num" title="candidates right / stored">
                  right
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr
                  key={r.questionId}
                  className={`clickable ${r.questionId === questionId ? 'selected' : ''}`}
                  data-testid="verifier-question"
                  data-question-id={r.questionId}
                  onClick={() => setQuestionId(r.questionId === questionId ? null : r.questionId)}
                >
                  <td className="text mono" title={r.question}>
                    {r.question}
                  </td>
                  <td className="num mono">{r.gold}</td>
                  <td className="num">
                    {r.correct} / {r.candidates}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {questionId !== null ? (
        <div className="verifier-candidates">
          {candidates.error ? <div className="field-error">{candidates.error}</div> : null}
          {c && !c.ok ? <div className="muted">{c.message}</div> : null}
          {c?.ok ? (
            <>
              <div className="verifier-question-head small">
                <span className="muted">candidates of </span>
                <span className="mono">{c.question}</span>
                <span className="muted"> · gold </span>
                <span className="mono">{c.gold}</span>
                <span className="muted">
                  {' '}
                  · ranked by {SCORER_LABELS[scorer]} (<code>{SCORE_KEYS[scorer]}</code>), highest first; click a row for the full text
                </span>
              </div>
              <div className="analysis-scroll">
                <table className="table compact analysis-table" data-testid="verifier-candidates" data-question-id={c.questionId} data-scorer={scorer}>
                  <thead>
                    <tr>
                      <th className="num">rank</th>
                      <th className="num">answer</th>
                      <th>ok</th>
                      {scoreKeys.map((k) => (
                        <th key={k} className={`num ${k === SCORE_KEYS[scorer] ? 'sorted' : ''}`}>
                          {k}
                        </th>
                      ))}
                      <th>rationale</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.candidates.map((x) => {
                      const open = expanded.has(x.rank);
                      return (
                        <tr
                          key={x.rank}
                          className="clickable"
                          data-testid="verifier-candidate"
                          data-rank={x.rank}
                          data-correct={x.correct ? 1 : 0}
                          data-score={x.scores?.[SCORE_KEYS[scorer]] ?? ''}
                          onClick={() => {
                            const next = new Set(expanded);
                            if (open) next.delete(x.rank);
                            else next.add(x.rank);
                            setExpanded(next);
                          }}
                        >
                          <td className="num">{x.rank}</td>
                          <td className="num mono">{x.answer ?? '—'}</td>
                          <td className={x.correct ? 'yes' : 'no'}>{x.correct ? '✓' : '✗'}</td>
                          {scoreKeys.map((k) => (
                            <td key={k} className="num mono">
                              {x.scores?.[k] === undefined ? '' : formatNumber(x.scores[k])}
                            </td>
                          ))}
                          <td className={`mono ${open ? 'wrap' : 'text'}`} title={open ? undefined : x.text}>
                            {x.text}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </>
          ) : null}
        </div>
      ) : rows.length ? (
        <div className="muted small analysis-caption">Click a question to see its candidates ranked by score.</div>
      ) : null}
    </div>
  );
}

// ---------------------------------------------------------------- panel

function appliesTo(run: RunDetail): boolean {
  return run.variant === 'v-star' || vstarIterations(run.metrics).length > 0;
}

function VerifierBody({ run }: { run: RunDetail }): ReactElement {
  // null: follow the latest iteration with candidates
  const [picked, setPicked] = useState<number | null>(null);
  // The scorer asked for; `eff` below is the one used (the run may lack its scores).
  const [scorer, setScorer] = useState<Scorer>('dpo');
  const [normalized, setNormalized] = useState(true);
  const itArg = picked !== null ? { iteration: picked } : {};
  const version = runDataVersion(run);

  const curves = useLive(() => fetchCurves(run.id, picked ?? undefined), [run.id, picked]);
  // A scorer is offered when its Best-of-k curve exists (the run has its scores); all before the curves load.
  const available = useMemo(() => {
    const have = (curves.data ?? []).filter((o) => o.spec.scorer && o.result?.ok && o.result.points.length).map((o) => o.spec.scorer!);
    return have.length ? SCORERS.filter((x) => have.includes(x)) : SCORERS;
  }, [curves.data]);
  // The scorer shown in the select is the one every query uses: the one asked for when the run has its scores, else the first it has.
  const eff: Scorer = available.includes(scorer) ? scorer : (available[0] ?? scorer);
  const stats = useLive(() => call('getVerifierStats', run.id, { ...itArg, scorer: eff, bins: BINS }), [run.id, picked, eff]);
  useReloadOnNewData(version, stats, curves);

  const s = stats.data?.ok ? stats.data : null;
  const logged = useMemo(() => vstarIterations(run.metrics), [run.metrics]);
  const iterations = useMemo(() => [...new Set([...(s?.iterations ?? []), ...logged])].sort((a, b) => a - b), [s, logged]);
  const latest = iterations.at(-1);
  const iteration = picked ?? s?.iteration ?? latest;

  const pairSeries = useMemo<Series[]>(() => {
    const out: Series[] = [];
    if (s)
      out.push({
        key: 'test',
        name: `test candidates (${SCORER_LABELS[s.scorer]})`,
        color: PALETTE[0]!,
        strokeWidth: 2,
        points: s.pairAccuracy.filter((p) => p.value !== null).map((p) => ({ x: p.iteration, y: p.value! })),
      });
    const train = perIteration(run.metrics['verifier/final_pair_accuracy']);
    if (train.length) out.push({ key: 'train', name: 'training pairs (verifier/final_pair_accuracy)', color: PALETTE[1]!, dash: '5 3', points: train });
    return out;
  }, [s, run.metrics]);

  return (
    <Panel
      title="Verifier: recounted curves, score distributions, candidates"
      testId="verifier-panel"
      actions={
        <>
          <IterationSelect label="iteration" iterations={iterations} value={iteration} onPick={setPicked} testId="verifier-iteration" />
          <label className="inline-control">
            scorer{' '}
            <select data-testid="verifier-scorer" value={eff} onChange={(e) => setScorer(e.target.value as Scorer)}>
              {available.map((x) => (
                <option key={x} value={x}>
                  {SCORER_LABELS[x]}
                </option>
              ))}
            </select>
          </label>
        </>
      }
    >
      <div className="analysis-grid">
        <div>
          <div className="analysis-section-title">Best-of-k vs majority vote vs pass@k</div>
          {curves.error ? <div className="field-error">{curves.error}</div> : null}
          <CurveChart outcomes={curves.data ?? []} />
        </div>
        <div>
          <div className="analysis-section-title">
            Scores of right vs wrong candidates
            <label className="inline-control muted">
              <input type="checkbox" data-testid="verifier-normalized" checked={normalized} onChange={(e) => setNormalized(e.target.checked)} /> share per class
            </label>
          </div>
          {stats.error ? <div className="field-error">{stats.error}</div> : null}
          {stats.data && !stats.data.ok ? <div className="muted" data-testid="verifier-histogram">{stats.data.message}</div> : null}
          {s ? <Histogram stats={s} normalized={normalized} /> : null}
        </div>
        <div>
          <div className="analysis-section-title">Pair accuracy per iteration</div>
          <LineChartPanel
            testId="verifier-pair-accuracy"
            series={pairSeries}
            height={220}
            xLabel="iteration"
            yLabel="pair accuracy"
            integerX
            yDomain={[0, 1]}
            yFormat={(v) => `${Math.round(v * 100)}%`}
            legend
            empty="No pair accuracy yet."
            data={{ scorer: s?.scorer ?? '' }}
          />
          <div className="muted small analysis-caption">
            Test candidates: the share of (right, wrong) candidate pairs of the same held-out question the scorer orders correctly (ties count half),
            recounted from the stored scores; for the DPO and ORM scorers it equals the logged verifier/test_pair_accuracy and orm/test_pair_accuracy.
            Training pairs: the DPO batches of the last steps (ties count as wrong).
          </div>
        </div>
        <div>
          <div className="analysis-section-title">Questions{iteration !== undefined ? ` at iteration ${iteration}` : ''}</div>
          <QuestionBrowser runId={run.id} iteration={picked ?? undefined} scorer={eff} version={version} />
        </div>
      </div>
    </Panel>
  );
}

/**
 * V-STaR's verifier, looked at from the stored candidates: Best-of-k (each scorer) vs majority
 * vote vs pass@k recounted for one iteration, the score distributions of right vs wrong
 * candidates, the verifier's pair accuracy per iteration, and a question browser with each
 * question's candidates ranked. Renders nothing for runs that are not V-STaR.
 */
export function VerifierPanel({ run }: { run: RunDetail }): ReactElement | null {
  if (!appliesTo(run)) return null;
  return <VerifierBody run={run} />;
}
