/** What the run page's parts ask of a run's variant and config. */
import type { RunDetail } from '../../../../shared/contract';

export function isQuiet(run: RunDetail): boolean {
  return run.variant === 'quiet-star';
}

/** A Quiet-STaR run logged before the teacher-forced metric: its eval/accuracy is greedy exact match. */
export function legacyQuietEval(run: RunDetail): boolean {
  return run.variant === 'quiet-star' && !!run.metrics['eval/accuracy']?.length && !run.metrics['eval/exact_match']?.length;
}

/** Evaluations the run will make after iteration 0 (Quiet-STaR: one every eval_every steps). */
export function totalIterations(run: RunDetail): number | null {
  const cfg = run.config as { loop?: { iterations?: unknown }; quiet?: { steps?: unknown; eval_every?: unknown } };
  if (typeof cfg.loop?.iterations === 'number') return cfg.loop.iterations;
  const q = cfg.quiet;
  if (typeof q?.steps === 'number' && typeof q.eval_every === 'number' && q.eval_every > 0) return Math.ceil(q.steps / q.eval_every);
  return null;
}
