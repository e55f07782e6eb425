/** What a run's reasoning left behind: traces, the solve matrix, V-STaR's verifier and candidates, best-of-k curves, Quiet-STaR's thoughts. */
import { CURVE_SCORERS } from '../../shared/contract';
import { curveOverQuestions } from '../../shared/estimators';
import * as q from '../../db/queries';
import { querySolveMatrix } from '../../db/solve-matrix';
import { queryTraces } from '../../db/traces';
import { candidateQuestions, rankedCandidates, verifierStats } from '../../db/verifier';
import { readThoughts } from '../thoughts';
import { noRun, type ServiceContext } from './context';
import type { ServiceCommands } from './types';

export type TraceCommands = Pick<
  ServiceCommands,
  'getTraces' | 'getSolveMatrix' | 'getVerifierStats' | 'getCandidateQuestions' | 'getCandidates' | 'getCurve' | 'getThoughts'
>;

export function traceCommands(ctx: ServiceContext): TraceCommands {
  const { db } = ctx;
  return {
    getTraces: (id, o) => queryTraces(db, id, o),
    getSolveMatrix(id, o) {
      if (!q.getRunRow(db, id)) throw new Error(noRun(id).message);
      return querySolveMatrix(db, id, o);
    },

    getVerifierStats: (id, o) => ctx.ifRun(id, () => verifierStats(db, id, o)),
    getCandidateQuestions: (id, o) => ctx.ifRun(id, () => candidateQuestions(db, id, o)),
    getCandidates: (id, o) => ctx.ifRun(id, () => rankedCandidates(db, id, o)),

    getCurve(id, o) {
      if (!q.getRunRow(db, id)) return noRun(id);
      const its = q.candidateIterations(db, id);
      if (!its.length) return { ok: false, message: `run ${id} stored no V-STaR candidates` };
      const iteration = o.iteration ?? its[its.length - 1]!;
      if (!its.includes(iteration))
        return { ok: false, message: `run ${id} has no candidates at iteration ${iteration} (it has them at ${its.join(', ')})` };
      const byQ = [...q.candidatesByQuestion(db, id, iteration).values()];
      const scorer = o.kind === 'best-of-k' ? (o.scorer ?? 'dpo') : null;
      try {
        const points = curveOverQuestions(byQ, o.kind, scorer ? CURVE_SCORERS[scorer] : undefined);
        return { ok: true, kind: o.kind, scorer, iteration, questions: byQ.length, candidates: byQ[0]!.length, points };
      } catch (e) {
        return { ok: false, message: `run ${id}, iteration ${iteration}: ${(e as Error).message}` };
      }
    },

    getThoughts(id, o) {
      const row = q.getRunRow(db, id);
      if (!row) return noRun(id);
      return readThoughts(db, id, row.run_dir, o);
    },
  };
}
