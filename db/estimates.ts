/** What past runs say about future ones: the duration estimate an ablation plan shows. */
import type { DB } from './open';

/** Mean duration in seconds of the completed runs with this variant, dataset and preset; null when there are none. */
export function typicalRunSeconds(db: DB, c: { variant: string; dataset: string; preset: string }): number | null {
  const r = db
    .prepare(
      `SELECT avg(ended_at - started_at) AS s FROM runs
       WHERE status = 'completed' AND variant = ? AND dataset = ? AND preset = ? AND started_at IS NOT NULL AND ended_at IS NOT NULL`,
    )
    .get(c.variant, c.dataset, c.preset) as { s: number | null };
  return r.s;
}
