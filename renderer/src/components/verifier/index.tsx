/** The V-STaR verifier panel of a run page: curves (curves.tsx), score histogram (histogram.tsx), question browser (questions.tsx). */
import { useMemo, useState, type ReactElement } from 'react';
import type { RunDetail } from '../../../../shared/contract';
import { useLive } from '../../hooks';
import { perIteration } from '../../metrics';
import { call } from '../../transport';
import { SCORERS, SCORER_LABELS, type Scorer } from '../../../../shared/catalogue';
import { vstarIterations } from '../../vstar';
import { LineChartPanel, PALETTE, type Series } from '../charts';
import { IterationSelect, Panel } from '../common';
import { CurveChart, fetchCurves } from './curves';
import { Histogram } from './histogram';
import { QuestionBrowser } from './questions';
import { runDataVersion, useReloadOnNewData } from './data-version';
import '../../analysis.css';

export { runDataVersion, useReloadOnNewData } from './data-version';

const BINS = 24;

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
    if (train.length)
      out.push({ key: 'train', name: 'training pairs (verifier/final_pair_accuracy)', color: PALETTE[1]!, dash: '5 3', points: train });
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
              <input
                type="checkbox"
                data-testid="verifier-normalized"
                checked={normalized}
                onChange={(e) => setNormalized(e.target.checked)}
              />{' '}
              share per class
            </label>
          </div>
          {stats.error ? <div className="field-error">{stats.error}</div> : null}
          {stats.data && !stats.data.ok ? (
            <div className="muted" data-testid="verifier-histogram">
              {stats.data.message}
            </div>
          ) : null}
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
            Test candidates: the share of (right, wrong) candidate pairs of the same held-out question the scorer orders correctly (ties
            count half), recounted from the stored scores; for the DPO and ORM scorers it equals the logged verifier/test_pair_accuracy and
            orm/test_pair_accuracy. Training pairs: the DPO batches of the last steps (ties count as wrong).
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
