/**
 * Ablations: a named experiment group expanded into runs — variants × datasets × seeds ×
 * every combination of the grid's override values — each validated like a single launch
 * before anything is queued.
 */
import { resolveConfig, type ExperimentConfig, type FieldError } from './experiment-config';

export interface AblationSpec {
  name?: string;
  variants: string[];
  datasets: string[];
  seeds: number[];
  preset: string;
  /** Overrides applied to every run (dotted path → value, as for a launch). */
  overrides?: Record<string, string>;
  /** Swept overrides: every combination of these values becomes its own runs. */
  grid?: Record<string, string[]>;
}

export interface PlannedRun {
  /** variant/dataset/seed plus the grid values, e.g. "star-norat/addition/seed 1/loop.lr=0.001". */
  label: string;
  config: ExperimentConfig;
}

export const MAX_ABLATION_RUNS = 1000;

/** Every combination of the grid's values, in key order ({} when there is no grid). */
export function gridCombinations(grid: Record<string, string[]> = {}): Record<string, string>[] {
  let combos: Record<string, string>[] = [{}];
  for (const [key, values] of Object.entries(grid)) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return combos;
}

/** Expand and validate an ablation. Never throws; errors name the run they belong to. */
export function expandAblation(spec: AblationSpec): { ok: true; runs: PlannedRun[] } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  for (const key of ['variants', 'datasets', 'seeds'] as const)
    if (!spec[key]?.length) errors.push({ field: key, message: `at least one ${key.slice(0, -1)} is needed` });
  for (const [key, values] of Object.entries(spec.grid ?? {}))
    if (!values.length) errors.push({ field: `grid.${key}`, message: 'a swept key needs at least one value' });
  if (new Set(spec.seeds).size !== spec.seeds.length) errors.push({ field: 'seeds', message: 'a seed is listed twice' });
  const combos = gridCombinations(spec.grid);
  const total = spec.variants.length * spec.datasets.length * spec.seeds.length * combos.length;
  if (total > MAX_ABLATION_RUNS) errors.push({ field: 'grid', message: `${total} runs: more than ${MAX_ABLATION_RUNS}` });
  if (errors.length) return { ok: false, errors };

  const runs: PlannedRun[] = [];
  const seen = new Set<string>();
  for (const variant of spec.variants)
    for (const dataset of spec.datasets)
      for (const combo of combos)
        for (const seed of spec.seeds) {
          const label = [variant, dataset, `seed ${seed}`, ...Object.entries(combo).map(([k, v]) => `${k}=${v}`)].join('/');
          const r = resolveConfig({ variant, dataset, preset: spec.preset, seed, overrides: { ...spec.overrides, ...combo } });
          if (!r.ok) {
            // one error per (field, message) across runs, naming the first run it hit
            for (const e of r.errors) {
              const k = `${e.field}\u0000${e.message}`;
              if (!seen.has(k)) errors.push({ field: e.field, message: `${label}: ${e.message}` });
              seen.add(k);
            }
            continue;
          }
          runs.push({ label, config: r.config });
        }
  return errors.length ? { ok: false, errors } : { ok: true, runs };
}

/** "a,b, c" → ["a", "b", "c"] (CLI lists). */
export function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}
