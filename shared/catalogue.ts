/**
 * The domain's names, written once in experiments/starlab/catalogue.json (the Python side,
 * starlab/catalogue.py, reads the same file): the variants, the phases of an iteration in the
 * order they run, V-STaR's Best-of-k scorers, and the metrics the variants log with their
 * label, unit and direction.
 *
 * No zod here: the renderer imports this module, and zod stays out of its bundle. The file is
 * checked by hand when this module loads (validateCatalogue), so a malformed catalogue fails
 * every test and every start with the reason.
 *
 * The ids are also written below as `as const` tuples, because TypeScript types a JSON import's
 * strings as `string` and z.enum and the Variant / Phase / Scorer unions need the literals. They
 * are not a second source: this module refuses to load unless each tuple equals the JSON's ids in
 * order (tests/unit/catalogue.test.ts checks it too). Add or rename an id in catalogue.json first.
 */
import catalogueJson from '../experiments/starlab/catalogue.json';

/** The variants, in display order. */
export const VARIANTS = ['star', 'star-norat', 'v-star', 'quiet-star'] as const;
/** The phases of an iteration, in the order they run. */
export const PHASES = ['warmup', 'sample', 'rationalize', 'train', 'evaluate', 'verify'] as const;
/** V-STaR's Best-of-k scorers, in display order. */
export const SCORERS = ['dpo', 'orm', 'logp', 'likelihood'] as const;

export type Variant = (typeof VARIANTS)[number];
export type Phase = (typeof PHASES)[number];
export type Scorer = (typeof SCORERS)[number];

export const VARIANT_FAMILIES = ['star', 'quiet-star'] as const;
export type VariantFamily = (typeof VARIANT_FAMILIES)[number];

export const METRIC_UNITS = [
  'fraction',
  'count',
  'tokens',
  'seconds',
  'nats',
  'score',
  'ratio',
  'tokens_per_second',
  'learning_rate',
] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

export interface VariantInfo {
  id: Variant;
  label: string;
  /** 'star': the STaR loop (star, star-norat, v-star; they log the per-iteration accounting); 'quiet-star'. */
  family: VariantFamily;
  description: string;
  /** Whether it runs under torchrun with runtime.nproc > 1 (experiments/starlab/dist.py). */
  multiProcess: boolean;
  /** Its fixed figure style: an Okabe–Ito colour name of shared/export/style.ts and a dash. */
  style: { color: string; dash: string };
}

export interface PhaseInfo {
  id: Phase;
  description: string;
}

export interface ScorerInfo {
  id: Scorer;
  /** e.g. "DPO verifier"; the Best-of-k method is `Best-of-k (<label>)`. */
  label: string;
  /** The stored score of a V-STaR candidate it ranks by (samples.scores_json). */
  scoreKey: string;
  description: string;
}

export interface MetricInfo {
  /** The metric's name, or null for a pattern. */
  name: string | null;
  /** A name pattern with {placeholders} (catalogue.json's `placeholders`), or null. */
  pattern: string | null;
  /** May hold the pattern's {placeholders}: metricLabel fills them in. */
  label: string;
  unit: MetricUnit;
  /** The best value of a curve is its minimum. */
  lowerIsBetter: boolean;
  /** A running total over the run. */
  cumulative: boolean;
  /** In the STaR-family per-iteration accounting. */
  accounting: boolean;
  /** Older names of the same series (read them as `name`; nothing new should log them). */
  aliases: string[];
  description: string | null;
}

interface CatalogueJson {
  variants: VariantInfo[];
  phases: PhaseInfo[];
  scorers: ScorerInfo[];
  placeholders: Record<string, string>;
  metrics: MetricInfo[];
}

// ---------------------------------------------------------------- validation

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * What is wrong with a catalogue (an empty list: nothing): fields of the wrong type, unknown
 * keys, duplicate ids or metric names, a pattern with an unknown placeholder, ids that differ
 * from the typed tuples above.
 */
export function validateCatalogue(raw: unknown): string[] {
  const errors: string[] = [];
  if (!isObj(raw)) return ['the catalogue is not an object'];
  const keys = (where: string, o: Record<string, unknown>, required: string[], optional: string[] = []) => {
    for (const k of required) if (!(k in o)) errors.push(`${where}: missing "${k}"`);
    for (const k of Object.keys(o))
      if (!required.includes(k) && !optional.includes(k) && !k.startsWith('_')) errors.push(`${where}: unknown key "${k}"`);
  };
  const list = (key: string): Record<string, unknown>[] => {
    const v = raw[key];
    if (!Array.isArray(v) || !v.length) {
      errors.push(`"${key}" is not a non-empty array`);
      return [];
    }
    return v.filter((x, i) => isObj(x) || (errors.push(`${key}[${i}] is not an object`), false)) as Record<string, unknown>[];
  };
  keys('catalogue', raw, ['variants', 'phases', 'scorers', 'placeholders', 'metrics']);
  const ids = (key: string, typed: readonly string[], items: Record<string, unknown>[]) => {
    const got = items.map((x) => x['id']);
    if (new Set(got).size !== got.length) errors.push(`${key}: duplicate ids`);
    if (got.length !== typed.length || got.some((id, i) => id !== typed[i]))
      errors.push(
        `${key}: the ids are [${got.join(', ')}] but shared/catalogue.ts's typed list is [${typed.join(', ')}]: change both, in the same order`,
      );
  };

  const variants = list('variants');
  variants.forEach((v, i) => {
    const w = `variants[${i}]`;
    keys(w, v, ['id', 'label', 'family', 'description', 'multiProcess', 'style']);
    for (const k of ['id', 'label', 'description']) if (!isStr(v[k])) errors.push(`${w}.${k} is not a non-empty string`);
    if (typeof v['multiProcess'] !== 'boolean') errors.push(`${w}.multiProcess is not true or false`);
    if (!(VARIANT_FAMILIES as readonly unknown[]).includes(v['family']))
      errors.push(`${w}.family is not one of ${VARIANT_FAMILIES.join(', ')}`);
    const s = v['style'];
    if (!isObj(s) || !isStr(s['color']) || !isStr(s['dash'])) errors.push(`${w}.style is not {color, dash}`);
    else keys(`${w}.style`, s, ['color', 'dash']);
  });
  ids('variants', VARIANTS, variants);

  const phases = list('phases');
  phases.forEach((p, i) => {
    keys(`phases[${i}]`, p, ['id', 'description']);
    for (const k of ['id', 'description']) if (!isStr(p[k])) errors.push(`phases[${i}].${k} is not a non-empty string`);
  });
  ids('phases', PHASES, phases);

  const scorers = list('scorers');
  scorers.forEach((s, i) => {
    keys(`scorers[${i}]`, s, ['id', 'label', 'scoreKey', 'description']);
    for (const k of ['id', 'label', 'scoreKey', 'description'])
      if (!isStr(s[k])) errors.push(`scorers[${i}].${k} is not a non-empty string`);
  });
  ids('scorers', SCORERS, scorers);
  const scoreKeys = scorers.map((s) => s['scoreKey']);
  if (new Set(scoreKeys).size !== scoreKeys.length) errors.push('scorers: duplicate scoreKey');

  const ph = raw['placeholders'];
  if (!isObj(ph) || !Object.values(ph).every(isStr)) errors.push('"placeholders" is not an object of regular expressions');
  else
    for (const [k, re] of Object.entries(ph)) {
      if (!/^[a-z_]+$/.test(k)) errors.push(`placeholder "${k}" is not a lower-case name`);
      try {
        new RegExp(re as string);
      } catch {
        errors.push(`placeholder "${k}": ${String(re)} is not a regular expression`);
      }
    }

  const seen = new Set<string>();
  list('metrics').forEach((m, i) => {
    const w = `metrics[${i}]`;
    keys(w, m, ['label', 'unit', 'lowerIsBetter'], ['name', 'pattern', 'cumulative', 'accounting', 'aliases', 'description']);
    const name = m['name'];
    const pattern = m['pattern'];
    if ((name === undefined) === (pattern === undefined)) errors.push(`${w}: give a name or a pattern, not both or neither`);
    for (const k of ['label']) if (!isStr(m[k])) errors.push(`${w}.${k} is not a non-empty string`);
    if (m['description'] !== undefined && !isStr(m['description'])) errors.push(`${w}.description is not a non-empty string`);
    if (!(METRIC_UNITS as readonly unknown[]).includes(m['unit'])) errors.push(`${w}.unit is not one of ${METRIC_UNITS.join(', ')}`);
    if (typeof m['lowerIsBetter'] !== 'boolean') errors.push(`${w}.lowerIsBetter is not a boolean`);
    for (const k of ['cumulative', 'accounting'])
      if (m[k] !== undefined && typeof m[k] !== 'boolean') errors.push(`${w}.${k} is not a boolean`);
    const aliases = m['aliases'] ?? [];
    if (!Array.isArray(aliases) || !aliases.every(isStr)) errors.push(`${w}.aliases is not an array of names`);
    const names = [name, ...(Array.isArray(aliases) ? aliases : [])].filter((n) => n !== undefined);
    for (const n of names) {
      if (!isStr(n) || !METRIC_NAME_RE.test(n)) errors.push(`${w}: "${String(n)}" is not a metric name (<namespace>/<rest>)`);
      else if (seen.has(n)) errors.push(`${w}: "${n}" is named twice`);
      else seen.add(n);
    }
    if (pattern !== undefined) {
      if (!isStr(pattern) || !METRIC_NAME_RE.test(pattern.replace(/\{[a-z_]+\}/g, 'x')))
        errors.push(`${w}.pattern is not a metric name pattern`);
      else if (seen.has(pattern)) errors.push(`${w}: "${pattern}" is given twice`);
      else {
        seen.add(pattern);
        for (const [, p] of pattern.matchAll(/\{([^}]*)\}/g))
          if (!isObj(ph) || !(p! in ph)) errors.push(`${w}.pattern: unknown placeholder {${p}}`);
      }
    }
    if (isStr(m['label']) && name !== undefined && /\{[a-z_]+\}/.test(m['label']))
      errors.push(`${w}.label has a placeholder but the metric has no pattern`);
  });
  return errors;
}

/** <namespace>/<rest>: what a metric name of the app's variants looks like. */
const METRIC_NAME_RE = /^[a-z][a-z_]*\/[A-Za-z0-9_@./-]+$/;

function load(raw: unknown): CatalogueJson {
  const errors = validateCatalogue(raw);
  if (errors.length) throw new Error(`experiments/starlab/catalogue.json is not a valid catalogue:\n  ${errors.join('\n  ')}`);
  const c = raw as Record<string, unknown> & CatalogueJson;
  return {
    variants: c.variants.map((v) => ({
      id: v.id,
      label: v.label,
      family: v.family,
      description: v.description,
      multiProcess: v.multiProcess,
      style: { color: v.style.color, dash: v.style.dash },
    })),
    phases: c.phases.map((p) => ({ id: p.id, description: p.description })),
    scorers: c.scorers.map((s) => ({ id: s.id, label: s.label, scoreKey: s.scoreKey, description: s.description })),
    placeholders: { ...c.placeholders },
    metrics: (c.metrics as unknown as Record<string, unknown>[]).map((m) => ({
      name: (m['name'] as string | undefined) ?? null,
      pattern: (m['pattern'] as string | undefined) ?? null,
      label: m['label'] as string,
      unit: m['unit'] as MetricUnit,
      lowerIsBetter: m['lowerIsBetter'] as boolean,
      cumulative: (m['cumulative'] as boolean | undefined) ?? false,
      accounting: (m['accounting'] as boolean | undefined) ?? false,
      aliases: [...((m['aliases'] as string[] | undefined) ?? [])],
      description: (m['description'] as string | undefined) ?? null,
    })),
  };
}

const CATALOGUE = load(catalogueJson);

// ---------------------------------------------------------------- variants, phases, scorers

export const VARIANT_INFO: readonly VariantInfo[] = CATALOGUE.variants;
export const PHASE_INFO: readonly PhaseInfo[] = CATALOGUE.phases;
export const SCORER_INFO: readonly ScorerInfo[] = CATALOGUE.scorers;

const byId = <T extends { id: string }>(items: readonly T[]): Record<T['id'], T> =>
  Object.fromEntries(items.map((x) => [x.id, x])) as Record<T['id'], T>;
const variantById = byId(VARIANT_INFO);
const scorerById = byId(SCORER_INFO);

/** The variant's entry, or undefined for an id outside the catalogue. */
export function variantInfo(id: string): VariantInfo | undefined {
  return Object.hasOwn(variantById, id) ? variantById[id as Variant] : undefined;
}

/** The variant ids of a family, in catalogue order. */
export function variantsOf(family: VariantFamily): Variant[] {
  return VARIANT_INFO.filter((v) => v.family === family).map((v) => v.id);
}

export const VARIANT_LABELS = Object.fromEntries(VARIANT_INFO.map((v) => [v.id, v.label])) as Readonly<Record<Variant, string>>;

/** The scorer's entry, or undefined for a name outside the catalogue. */
export function scorerInfo(id: string): ScorerInfo | undefined {
  return Object.hasOwn(scorerById, id) ? scorerById[id as Scorer] : undefined;
}

/** scorer → the stored candidate score it ranks by (dpo → reward, …). */
export const SCORE_KEYS = Object.fromEntries(SCORER_INFO.map((s) => [s.id, s.scoreKey])) as Readonly<Record<Scorer, string>>;
export const SCORER_LABELS = Object.fromEntries(SCORER_INFO.map((s) => [s.id, s.label])) as Readonly<Record<Scorer, string>>;

/** Index of a phase in PHASES; a phase outside the catalogue sorts after them. */
export function phaseRank(name: string): number {
  const i = (PHASES as readonly string[]).indexOf(name);
  return i < 0 ? PHASES.length : i;
}

/** Phase names in PHASES order, then others by name; duplicates once. */
export function sortPhases(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => phaseRank(a) - phaseRank(b) || a.localeCompare(b));
}

// ---------------------------------------------------------------- metrics

export const METRICS: readonly MetricInfo[] = CATALOGUE.metrics;
/** The metric namespaces of the app's variants (eval, train, …): the first segment of every catalogued name. */
export const METRIC_NAMESPACES: readonly string[] = [
  ...new Set(METRICS.flatMap((m) => [m.name ?? m.pattern!, ...m.aliases]).map((n) => n.slice(0, n.indexOf('/')))),
];

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const byName = new Map<string, MetricInfo>();
for (const m of METRICS) for (const n of [m.name, ...m.aliases]) if (n !== null) byName.set(n, m);
const patterns = METRICS.filter((m) => m.pattern !== null).map((m) => {
  const params: string[] = [];
  const src = m
    .pattern!.split(/(\{[a-z_]+\})/)
    .map((part) => {
      const p = /^\{([a-z_]+)\}$/.exec(part);
      if (!p) return escapeRe(part);
      params.push(p[1]!);
      return `(${CATALOGUE.placeholders[p[1]!]!})`;
    })
    .join('');
  return { info: m, re: new RegExp(`^${src}$`), params };
});

/** A metric's catalogue entry and, for a pattern, the values of its placeholders; null: not in the catalogue. */
export function metricInfo(name: string): { info: MetricInfo; params: Record<string, string> } | null {
  const m = byName.get(name);
  if (m) return { info: m, params: {} };
  for (const p of patterns) {
    const hit = p.re.exec(name);
    if (hit) return { info: p.info, params: Object.fromEntries(p.params.map((k, i) => [k, hit[i + 1]!])) };
  }
  return null;
}

/** The one name of a series: an alias's entry name, else the name itself. */
export function canonicalMetricName(name: string): string {
  return byName.get(name)?.name ?? name;
}

/** The label of a metric (a pattern's placeholders filled in), or null when it is not in the catalogue. */
export function metricLabel(name: string): string | null {
  const hit = metricInfo(name);
  if (!hit) return null;
  return hit.info.label.replace(/\{([a-z_]+)\}/g, (whole, k: string) => hit.params[k] ?? whole);
}

/** The accounting metrics of the STaR-family runs, in catalogue order. */
export const ACCOUNTING_METRICS: readonly MetricInfo[] = METRICS.filter((m) => m.accounting && m.name !== null);

/**
 * Metrics where lower is better ("best" is a minimum for them): the catalogue's flag
 * (experiments/starlab/catalogue.json); for a metric outside it (an SDK run's own), a guess from the name.
 */
export function lowerIsBetter(metric: string): boolean {
  return metricInfo(metric)?.info.lowerIsBetter ?? /loss|perplexity|nll|error|(^|\/)time/i.test(metric);
}
