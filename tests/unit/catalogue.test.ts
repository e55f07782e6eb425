import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import catalogueJson from '../../experiments/starlab/catalogue.json';
import {
  ACCOUNTING_METRICS as CATALOGUE_ACCOUNTING,
  METRICS,
  METRIC_NAMESPACES,
  PHASES,
  SCORERS,
  SCORER_INFO,
  SCORE_KEYS,
  VARIANTS,
  VARIANT_INFO,
  canonicalMetricName,
  metricInfo,
  metricLabel,
  sortPhases,
  validateCatalogue,
  variantsOf,
} from '../../shared/catalogue';
import { CURVE_SCORERS, commandArgs } from '../../shared/contract';
import { PHASES as PROTOCOL_PHASES, phaseSchema } from '../../shared/protocol';
import { VARIANTS as CONFIG_VARIANTS, VARIANT_LABELS } from '../../shared/experiment-config';
import { DASHES, OKABE_ITO, styleForVariant } from '../../shared/export/style';
import { ACCOUNTING_METRICS, isStarFamily } from '../../renderer/src/accounting';
import { BEST_OF_K_METHODS, methodLook } from '../../renderer/src/vstar';
import { lowerIsBetter } from '../../renderer/src/compare';

const REPO = resolve(__dirname, '../..');
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('the catalogue (experiments/starlab/catalogue.json)', () => {
  it('is well-formed, and its ids are the typed lists', () => {
    expect(validateCatalogue(catalogueJson)).toEqual([]);
    expect(catalogueJson.variants.map((v) => v.id)).toEqual([...VARIANTS]);
    expect(catalogueJson.phases.map((p) => p.id)).toEqual([...PHASES]);
    expect(catalogueJson.scorers.map((s) => s.id)).toEqual([...SCORERS]);
    expect(METRICS.length).toBe(catalogueJson.metrics.length);
  });

  it('refuses a malformed catalogue with the reason', () => {
    const bad = (edit: (c: Record<string, any>) => void): string[] => {
      const c = clone(catalogueJson) as Record<string, any>;
      edit(c);
      return validateCatalogue(c);
    };
    expect(bad((c) => c.variants.reverse())[0]).toMatch(/variants: the ids are \[quiet-star, .*typed list/);
    expect(bad((c) => c.phases.push({ id: 'think', description: 'x' })).join()).toMatch(/phases: the ids/);
    expect(bad((c) => (c.scorers[1].scoreKey = 'reward')).join()).toMatch(/duplicate scoreKey/);
    expect(bad((c) => c.metrics.push({ ...c.metrics[0] })).join()).toMatch(/"eval\/accuracy" is named twice/);
    expect(
      bad((c) => c.metrics.push({ name: 'x/y', label: 'z', unit: 'count', lowerIsBetter: false, aliases: ['eval/accuracy'] })).join(),
    ).toMatch(/named twice/);
    expect(bad((c) => c.metrics.push({ pattern: 'x/{nope}', label: 'z', unit: 'count', lowerIsBetter: false })).join()).toMatch(
      /unknown placeholder \{nope\}/,
    );
    expect(bad((c) => c.metrics.push({ name: 'x/y', pattern: 'x/{k}', label: 'z', unit: 'count', lowerIsBetter: false })).join()).toMatch(
      /not both/,
    );
    expect(bad((c) => (c.metrics[0].unit = 'percent')).join()).toMatch(/unit is not one of/);
    expect(bad((c) => delete c.metrics[0].lowerIsBetter).join()).toMatch(/missing "lowerIsBetter"/);
    expect(bad((c) => (c.metrics[0].colour = 'red')).join()).toMatch(/unknown key "colour"/);
    expect(bad((c) => (c.variants[0].family = 'other')).join()).toMatch(/family is not one of/);
    expect(bad((c) => (c.metrics[0].name = 'accuracy')).join()).toMatch(/is not a metric name/);
  });

  it('the contract, the protocol and the config use its lists', () => {
    expect([...PROTOCOL_PHASES]).toEqual([...PHASES]);
    expect(phaseSchema.options).toEqual([...PHASES]);
    expect([...CONFIG_VARIANTS]).toEqual([...VARIANTS]);
    expect(VARIANT_LABELS).toEqual(Object.fromEntries(catalogueJson.variants.map((v) => [v.id, v.label])));
    const scorerEnum = (cmd: 'getVerifierStats' | 'getCandidates' | 'getCurve') => {
      const s = (
        commandArgs[cmd].def.items[1] as unknown as { shape: { scorer: { options?: string[]; unwrap?: () => { options: string[] } } } }
      ).shape.scorer;
      return s.options ?? s.unwrap!().options;
    };
    for (const cmd of ['getVerifierStats', 'getCandidates', 'getCurve'] as const) expect(scorerEnum(cmd), cmd).toEqual([...SCORERS]);
    expect(CURVE_SCORERS).toEqual(Object.fromEntries(catalogueJson.scorers.map((s) => [s.id, s.scoreKey])));
    expect(SCORE_KEYS).toEqual({ dpo: 'reward', orm: 'orm', logp: 'logp_norm', likelihood: 'gen_logp_norm' });
  });

  it('gives each variant its family and a fixed figure style from the palette', () => {
    expect(variantsOf('star')).toEqual(['star', 'star-norat', 'v-star']);
    expect(variantsOf('quiet-star')).toEqual(['quiet-star']);
    const colours = new Set<string>();
    for (const v of VARIANT_INFO) {
      const c = OKABE_ITO.find((x) => x.name === v.style.color);
      expect(c, v.id).toBeDefined();
      expect(DASHES).toContain(v.style.dash);
      expect(styleForVariant(v.id)).toEqual({ color: c!.hex, colorName: c!.name, dash: v.style.dash });
      colours.add(v.style.color);
      const run = { variant: v.id, metrics: {} };
      expect(isStarFamily(run), v.id).toBe(v.family === 'star');
    }
    expect(colours.size).toBe(VARIANT_INFO.length);
  });

  it('orders phases as they run, then others by name', () => {
    expect(sortPhases(['verify', 'custom', 'train', 'warmup', 'aaa', 'train'])).toEqual(['warmup', 'train', 'verify', 'aaa', 'custom']);
  });

  it('labels the scorers in the V-STaR panels', () => {
    expect(BEST_OF_K_METHODS.map((m) => m.key)).toEqual(['pass', 'majority', ...SCORERS]);
    expect(BEST_OF_K_METHODS.slice(2).map((m) => m.label)).toEqual(SCORER_INFO.map((s) => `Best-of-k (${s.label})`));
    // every method has its own colour slot (pass@k: grey), the DPO verifier the thick line
    const slots = ['majority', ...SCORERS].map((k) => methodLook(k)!.slot);
    expect(new Set(slots).size).toBe(slots.length);
    expect(methodLook('dpo')).toEqual({ slot: 0, strokeWidth: 2.25 });
    expect(methodLook('pass')!.slot).toBeNull();
    expect(methodLook('someone-elses')).toBeNull();
  });

  it('finds metrics by name, alias and pattern, and labels them', () => {
    expect(metricInfo('eval/accuracy')!.info.unit).toBe('fraction');
    expect(metricLabel('eval/accuracy')).toBe('held-out accuracy');
    expect(metricLabel('eval/accuracy/digits_3')).toBe('held-out accuracy, digits 3');
    expect(metricInfo('vstar/best_of_k/dpo@16')!.params).toEqual({ scorer: 'dpo', k: '16' });
    expect(metricLabel('vstar/best_of_k/orm@4')).toBe('best of 4 by orm');
    expect(metricInfo('vstar/pass@0')).toBeNull();
    expect(metricInfo('my/own')).toBeNull();
    expect(metricLabel('my/own')).toBeNull();
    // the duplicated Quiet-STaR counters: one name each, the other an alias
    expect(canonicalMetricName('tokens/generated')).toBe('compute/tokens_generated');
    expect(canonicalMetricName('tokens/trained')).toBe('compute/tokens_trained');
    expect(metricInfo('tokens/generated')!.info).toBe(metricInfo('compute/tokens_generated')!.info);
    expect(canonicalMetricName('train/loss')).toBe('train/loss');
    expect([...METRIC_NAMESPACES].sort()).toEqual([
      'compute',
      'eval',
      'orm',
      'quiet',
      'time',
      'tokens',
      'train',
      'verifier',
      'vstar',
      'warmup',
    ]);
  });

  it('says which way is better, falling back to the name for metrics outside it', () => {
    expect(lowerIsBetter('eval/accuracy')).toBe(false);
    expect(lowerIsBetter('train/loss')).toBe(true);
    expect(lowerIsBetter('time/iteration_s')).toBe(true);
    expect(lowerIsBetter('verifier/rejected_reward')).toBe(true);
    expect(lowerIsBetter('vstar/best_of_k/dpo@4')).toBe(false);
    expect(lowerIsBetter('my/validation_loss')).toBe(true);
    expect(lowerIsBetter('my/score')).toBe(false);
  });

  it('the accounting metrics are its `accounting` entries, in order', () => {
    expect(ACCOUNTING_METRICS.map((m) => m.name)).toEqual(CATALOGUE_ACCOUNTING.map((m) => m.name));
    expect(ACCOUNTING_METRICS.find((m) => m.name === 'compute/tokens_generated')).toEqual({
      name: 'compute/tokens_generated',
      label: 'tokens generated (cumulative)',
      unit: 'tokens',
      cumulative: true,
    });
  });
});

// ---------------------------------------------------------------- metric names in the TypeScript sources

const HOLE = '\u0000';
const PART = '[A-Za-z0-9_.-]+';
const LOOKS_LIKE_METRIC = new RegExp(`^(${METRIC_NAMESPACES.join('|')})/[A-Za-z0-9_@./${HOLE}-]*$`);
const SAMPLE_VALUES: Record<string, string[]> = { difficulty: ['digits'], level: ['3'], k: ['4'], scorer: [...SCORERS] };

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Metric-like string literals and templates (holes as HOLE) of a TypeScript file, with their line. */
function metricLiterals(file: string): { text: string; line: number }[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: { text: string; line: number }[] = [];
  const visit = (n: ts.Node): void => {
    let text: string | null = null;
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) text = n.text;
    else if (ts.isTemplateExpression(n)) text = n.head.text + n.templateSpans.map((s) => HOLE + s.literal.text).join('');
    if (text !== null && !text.startsWith(HOLE) && LOOKS_LIKE_METRIC.test(text))
      out.push({ text, line: src.getLineAndCharacterOfPosition(n.getStart()).line + 1 });
    if (!ts.isTemplateExpression(n)) ts.forEachChild(n, visit);
    else for (const s of n.templateSpans) visit(s.expression);
  };
  visit(src);
  return out;
}

function catalogueSamples(): string[] {
  const out: string[] = [];
  for (const m of METRICS) {
    if (m.name) out.push(m.name);
    if (m.pattern) {
      let names = [m.pattern];
      for (const [ph, values] of Object.entries(SAMPLE_VALUES)) names = names.flatMap((n) => values.map((v) => n.replaceAll(`{${ph}}`, v)));
      out.push(...names);
    }
  }
  return out;
}

describe('metric names in the TypeScript sources', () => {
  const dirs = ['shared', 'db', 'core', 'cli', 'server', 'electron', 'renderer/src', 'scripts'];
  const found = dirs.flatMap((d) =>
    sourceFiles(join(REPO, d)).flatMap((f) => metricLiterals(f).map((l) => ({ ...l, where: `${relative(REPO, f)}:${l.line}` }))),
  );
  const aliases = new Set(METRICS.flatMap((m) => m.aliases));

  it('are catalogued (a literal may be a prefix the code completes: vstar/pass + @k)', () => {
    expect(found.length).toBeGreaterThan(30);
    const samples = catalogueSamples();
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const missing = found.filter(({ text }) => {
      const re = new RegExp(`^${text.split(HOLE).map(escape).join(PART)}(?:[@/].*)?$`);
      return !(metricInfo(text) !== null || samples.some((s) => re.test(s)));
    });
    expect(missing.map((m) => `${m.text.replaceAll(HOLE, '${…}')} (${m.where})`)).toEqual([]);
  });

  it('use the one name of a series, never an alias', () => {
    expect(found.filter((f) => aliases.has(f.text)).map((f) => `${f.text} (${f.where})`)).toEqual([]);
  });
});
