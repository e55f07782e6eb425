/**
 * Pure helpers for the ablation, groups and queue-settings views: parsing the form's text
 * fields into an AblationSpec, formatting the plan's estimate, and group progress fractions.
 */
import type { FieldError } from '../../shared/experiment-config';
import { RESERVED_KEYS, reservedKeyMessage } from '../../shared/reserved-keys';
import type { RunStatus } from '../../shared/contract';
import type { AblationSpec } from '../../shared/ablation';
import { parseForm } from './launch-form';

/** The spec the form builds: the same shape the service expands (shared/ablation.ts). */
export type AblationSpecOut = AblationSpec;

export interface AblationFormState {
  name: string;
  variants: string[];
  datasets: string[];
  seeds: string;
  preset: string;
  overrides: string;
  sweeps: string;
}

const MAX_SEED = 2 ** 31 - 1;
const MAX_RANGE = 1000;

/** "0,1,2", "0 1 2" or ranges "0-4" → seeds; errors use the field "seeds". */
export function parseSeeds(text: string): { seeds: number[]; errors: FieldError[] } {
  const seeds: number[] = [];
  const errors: FieldError[] = [];
  const parts = text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of parts) {
    const range = /^(\d+)-(\d+)$/.exec(p);
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      if (b < a) errors.push({ field: 'seeds', message: `"${p}": a range must go up` });
      else if (b > MAX_SEED) errors.push({ field: 'seeds', message: `"${p}": a seed is at most ${MAX_SEED}` });
      else if (b - a + 1 > MAX_RANGE) errors.push({ field: 'seeds', message: `"${p}": more than ${MAX_RANGE} seeds` });
      else for (let s = a; s <= b; s++) seeds.push(s);
      continue;
    }
    if (!/^\d+$/.test(p)) {
      errors.push({ field: 'seeds', message: `"${p}" is not a non-negative integer` });
      continue;
    }
    const n = Number(p);
    if (n > MAX_SEED) errors.push({ field: 'seeds', message: `"${p}": a seed is at most ${MAX_SEED}` });
    else seeds.push(n);
  }
  if (!errors.length && !seeds.length) errors.push({ field: 'seeds', message: 'at least one seed is needed' });
  if (!errors.length) {
    const seen = new Set<number>();
    for (const s of seeds) {
      if (seen.has(s)) {
        errors.push({ field: 'seeds', message: `seed ${s} is listed twice` });
        break;
      }
      seen.add(s);
    }
  }
  return { seeds, errors };
}

/**
 * The sweeps textarea: one `key=v1,v2,…` per line, `#` starts a comment. Errors use the
 * field "grid" (syntax) or "grid.<key>" (a key's values).
 */
export function parseSweeps(text: string): { grid: Record<string, string[]>; errors: FieldError[]; lines: Map<string, number> } {
  const grid = Object.create(null) as Record<string, string[]>; // "__proto__" stays a key (refused below), not a prototype
  const errors: FieldError[] = [];
  const lines = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!key) {
      errors.push({ field: 'grid', message: `line ${i + 1}: expected key=v1,v2, got "${line}"` });
      return;
    }
    if (key.length > 200) {
      errors.push({ field: 'grid', message: `line ${i + 1}: key too long` });
      return;
    }
    if (RESERVED_KEYS.includes(key)) {
      errors.push({ field: `grid.${key}`, message: `line ${i + 1}: ${reservedKeyMessage(key)}` });
      return;
    }
    if (Object.hasOwn(grid, key)) {
      errors.push({ field: `grid.${key}`, message: `line ${i + 1}: "${key}" is swept twice` });
      return;
    }
    const values = line
      .slice(eq + 1)
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    if (!values.length) {
      errors.push({ field: `grid.${key}`, message: `line ${i + 1}: a swept key needs at least one value` });
      return;
    }
    if (values.length > 100) {
      errors.push({ field: `grid.${key}`, message: `line ${i + 1}: more than 100 values` });
      return;
    }
    if (new Set(values).size !== values.length) {
      errors.push({ field: `grid.${key}`, message: `line ${i + 1}: a value is listed twice` });
      return;
    }
    grid[key] = values;
    lines.set(key, i + 1);
  });
  return { grid, errors, lines };
}

/** The whole form → a spec plus the errors found before asking the service. */
export function parseAblationForm(f: AblationFormState): { spec: AblationSpecOut; local: FieldError[] } {
  const local: FieldError[] = [];
  const spec: AblationSpecOut = { variants: [...f.variants], datasets: [...f.datasets], seeds: [], preset: f.preset };
  const name = f.name.trim();
  if (name) {
    if (name.length > 200) local.push({ field: 'name', message: 'at most 200 characters' });
    else spec.name = name;
  }
  if (!f.variants.length) local.push({ field: 'variants', message: 'pick at least one variant' });
  if (!f.datasets.length) local.push({ field: 'datasets', message: 'pick at least one dataset' });
  if (!f.preset) local.push({ field: 'preset', message: 'pick a preset' });
  const seeds = parseSeeds(f.seeds);
  spec.seeds = seeds.seeds;
  local.push(...seeds.errors);
  const ov = parseForm({ variant: '', dataset: '', preset: '', seed: '', overrides: f.overrides });
  // parseForm reports override problems as "overrides" / "overrides.<key>"
  local.push(...ov.local);
  if (ov.spec.overrides) spec.overrides = ov.spec.overrides;
  const sw = parseSweeps(f.sweeps);
  local.push(...sw.errors);
  if (Object.keys(sw.grid).length) spec.grid = sw.grid;
  for (const key of Object.keys(sw.grid))
    if (spec.overrides && key in spec.overrides)
      local.push({ field: `grid.${key}`, message: `"${key}" is both a common override and swept` });
  return { spec, local };
}

/** Runs the spec expands to (before validation): variants × datasets × seeds × grid combinations. */
export function countRuns(spec: AblationSpecOut): number {
  let n = spec.variants.length * spec.datasets.length * spec.seeds.length;
  for (const values of Object.values(spec.grid ?? {})) n *= values.length;
  return n;
}

/** The plan's estimate in words. */
export function formatEstimate(seconds: number | null, from?: { known: number; of: number }): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return 'no earlier runs to estimate from';
  const min = Math.max(1, Math.round(seconds / 60));
  const h = Math.floor(min / 60);
  const m = min % 60;
  const time = min < 120 ? `about ${min} min` : `about ${h} h${m ? ` ${m} min` : ''}`;
  if (!from || from.known >= from.of) return `${time} from earlier runs`;
  return `${time} from earlier runs of ${from.known} of the ${from.of} runs' variant, dataset and preset (the others assumed as long)`;
}

/** Stacking order of a group's progress bar. */
export const PROGRESS_ORDER: RunStatus[] = ['completed', 'running', 'failed', 'stopped', 'queued'];
const ENDED: RunStatus[] = ['completed', 'failed', 'stopped'];

export interface ProgressSegment {
  status: RunStatus;
  count: number;
  /** 0..1 of the total */
  fraction: number;
}

/** Segments (non-empty, in PROGRESS_ORDER) and the number of ended runs of a group. */
export function groupProgress(
  counts: Partial<Record<RunStatus, number>>,
  total: number,
): { segments: ProgressSegment[]; ended: number; total: number } {
  const sum = PROGRESS_ORDER.reduce((a, s) => a + Math.max(0, counts[s] ?? 0), 0);
  const denom = Math.max(total, sum);
  const segments = PROGRESS_ORDER.filter((s) => (counts[s] ?? 0) > 0).map((status) => ({
    status,
    count: counts[status]!,
    fraction: denom > 0 ? counts[status]! / denom : 0,
  }));
  const ended = ENDED.reduce((a, s) => a + Math.max(0, counts[s] ?? 0), 0);
  return { segments, ended, total: denom };
}

/** Counts by status of a list of runs. */
export function countStatuses(runs: { status: RunStatus }[]): Partial<Record<RunStatus, number>> {
  const c: Partial<Record<RunStatus, number>> = {};
  for (const r of runs) c[r.status] = (c[r.status] ?? 0) + 1;
  return c;
}

const SLOT = /^[0-9A-Za-z,:-]{1,64}$/;

/** "0 1" or "0,1 2,3" → GPU slots (CUDA_VISIBLE_DEVICES values). */
export function parseGpuSlots(text: string): { slots: string[]; error: string | null } {
  const slots = text.split(/\s+/).filter(Boolean);
  const bad = slots.find((s) => !SLOT.test(s));
  if (bad !== undefined) return { slots, error: `"${bad.slice(0, 70)}" is not a CUDA_VISIBLE_DEVICES value (digits, letters, , : -)` };
  if (slots.length > 64) return { slots, error: 'at most 64 GPU slots' };
  return { slots, error: null };
}

/** "runs at once" field → a count, 0 = no limit. */
export function parseMaxConcurrent(text: string): { value: number; error: string | null } {
  const t = text.trim();
  if (t === '') return { value: 0, error: null };
  if (!/^\d+$/.test(t)) return { value: 0, error: 'a non-negative integer (0: no limit)' };
  const n = Number(t);
  if (n > 1024) return { value: n, error: 'at most 1024' };
  return { value: n, error: null };
}
