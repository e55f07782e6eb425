/** Best-of-k (each scorer) vs majority vote vs pass@k, recounted from one iteration's stored candidates. */
import { type ReactElement } from 'react';
import type { CurveResult } from '../../../../shared/contract';
import { call } from '../../transport';
import { SCORERS, SCORER_LABELS, type Scorer } from '../../../../shared/catalogue';
import { bestOfKLabel, methodLook } from '../../vstar';
import { LineChartPanel, PALETTE, type Series } from '../charts';

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

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
  ...SCORERS.map((scorer): CurveSpec => ({
    key: scorer,
    label: bestOfKLabel(SCORER_LABELS[scorer]),
    kind: 'best-of-k',
    scorer,
    ...look(scorer),
  })),
  { key: 'majority', label: 'majority vote', kind: 'majority', ...look('majority') },
  { key: 'pass', label: 'pass@k (oracle)', kind: 'pass-at-k', ...look('pass') },
];

export interface CurveOutcome {
  spec: CurveSpec;
  result: CurveResult | null;
  error: string | null;
}

/** Every curve of one iteration (undefined: the latest with candidates); a scorer the run lacks comes back not ok. */
export function fetchCurves(runId: string, iteration: number | undefined): Promise<CurveOutcome[]> {
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

export function CurveChart({ outcomes }: { outcomes: CurveOutcome[] }): ReactElement {
  const series: Series[] = [];
  let n = 1;
  let info: { iteration: number; questions: number; candidates: number } | null = null;
  for (const o of outcomes) {
    if (!o.result?.ok || !o.result.points.length) continue;
    const r = o.result;
    info ??= { iteration: r.iteration, questions: r.questions, candidates: r.candidates };
    n = Math.max(n, ...r.points.map((p) => p.k));
    series.push({
      key: o.spec.key,
      name: o.spec.label,
      color: o.spec.color,
      strokeWidth: o.spec.strokeWidth,
      dash: o.spec.dash,
      points: r.points.map((p) => ({ x: p.k, y: p.value })),
    });
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
        {info
          ? `Recounted from ${info.candidates} stored candidates of ${info.questions} held-out questions at iteration ${info.iteration}. `
          : ''}
        {errors.length ? <span className="field-error">{errors[0]!.error}</span> : null}
      </div>
    </div>
  );
}
