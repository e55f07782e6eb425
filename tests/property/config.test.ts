/**
 * Property tests of config validation (shared/experiment-config.ts): random launches, random
 * overrides and mutated configs never make validation throw; every refusal names a field path
 * that exists in the config (or the override that was given); prototype keys change nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DATASETS,
  MAX_CONFIG_STRING,
  PRESETS,
  VARIANTS,
  configSchemaFor,
  fieldErrors,
  parseSetArgs,
  presetDefaults,
  resolveConfig,
  sectionsFor,
  type Dataset,
  type Variant,
} from '../../shared/experiment-config';

const RUNS = { numRuns: 200 };
const variant = fc.constantFrom(...VARIANTS);
const dataset = fc.constantFrom(...DATASETS);
const preset = fc.constantFrom(...PRESETS);
/** Where the cross-field rules of configSchemaFor report (a change elsewhere can trip them). */
const CROSS_FIELD = [
  'model.n_head',
  'model.max_len',
  'task.max_digits',
  'task.max_numbers', // pair-sum: min_numbers ≤ max_numbers
  'loop.restart_from_base',
  'loop.max_new_tokens',
  'quiet.max_new_tokens',
];
const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/** Every dotted leaf path of a resolved preset config. */
function leafPaths(v: string, d: string, p: string): string[] {
  const cfg = presetDefaults(v, d, p)!;
  return Object.entries(cfg).flatMap(([sec, body]) => Object.keys(body as object).map((k) => `${sec}.${k}`));
}

/** Values a user might type after `--set key=`: JSON of every kind, huge numbers, junk. */
const rawValue = fc.oneof(
  fc.jsonValue().map((j) => JSON.stringify(j)),
  fc.string(),
  fc.constantFrom('1e308', '1e309', '-1e309', 'NaN', 'Infinity', '-0', '0.5', '2', '9007199254740993', 'true', 'null', '"x"', '[]', '{}'),
  fc.integer({ min: 1, max: 5000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.constant('x'.repeat(MAX_CONFIG_STRING + 1)).map((s) => JSON.stringify(s)),
);

function expectNamedErrors(errors: { field: string; message: string }[]): void {
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) {
    expect(e.field.length).toBeGreaterThan(0);
    expect(e.message.length).toBeGreaterThan(0);
  }
}

describe('resolveConfig (properties)', () => {
  it('never throws on random launch specs; unknown names are refused by field', () => {
    fc.assert(
      fc.property(
        fc.oneof(variant, fc.string()),
        fc.oneof(dataset, fc.string()),
        fc.oneof(preset, fc.string()),
        fc.option(fc.oneof(fc.integer(), fc.double()), { nil: undefined }),
        (v, d, p, seed) => {
          const r = resolveConfig({ variant: v, dataset: d, preset: p, seed });
          const fields = r.ok ? [] : r.errors.map((e) => e.field);
          if (!(VARIANTS as readonly string[]).includes(v)) expect(fields).toContain('variant');
          if (!(DATASETS as readonly string[]).includes(d)) expect(fields).toContain('dataset');
          if (!(PRESETS as readonly string[]).includes(p)) expect(fields).toContain('preset');
          const goodSeed = seed === undefined || (Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 31 - 1);
          if (!goodSeed) expect(fields).toContain('seed');
          if (!r.ok) expectNamedErrors(r.errors);
        },
      ),
      RUNS,
    );
  });

  it('an override of a real key with a random value is accepted or refused naming exactly that key', () => {
    fc.assert(
      fc.property(variant, dataset, preset, fc.nat(), rawValue, (v, d, p, pick, raw) => {
        const paths = leafPaths(v, d, p);
        const key = paths[pick % paths.length]!;
        const r = resolveConfig({ variant: v, dataset: d, preset: p, overrides: { [key]: raw } });
        if (r.ok) return;
        expectNamedErrors(r.errors);
        // the key's own check, or a cross-field rule it takes part in
        for (const e of r.errors) expect([key, ...CROSS_FIELD]).toContain(e.field);
      }),
      RUNS,
    );
  });

  it('overrides of random or prototype paths are refused as overrides.<path> and never touch Object.prototype', () => {
    const segment = fc.oneof(fc.constantFrom(...DANGEROUS, 'model', 'loop', 'task', 'name', 'lr'), fc.string({ maxLength: 6 }));
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
    fc.assert(
      fc.property(variant, dataset, path, rawValue, (v, d, key, raw) => {
        const r = resolveConfig({ variant: v, dataset: d, preset: 'tiny', overrides: { [key]: raw } });
        if (!r.ok) expectNamedErrors(r.errors);
        if (key.split('.').some((s) => DANGEROUS.includes(s))) {
          expect(r.ok).toBe(false);
          if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual([`overrides.${key}`]);
        }
        expect(typeof {}.toString).toBe('function');
        expect(Object.prototype.hasOwnProperty.call({}, 'x')).toBe(false);
      }),
      RUNS,
    );
  });

  it('parseSetArgs keeps every key=value (prototype names included) and names what is not key=value', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom('__proto__=1', 'constructor=2', '=x', 'noequals')), { maxLength: 6 }),
        (sets) => {
          const { overrides, errors } = parseSetArgs(sets);
          const good = sets.filter((s) => s.indexOf('=') > 0);
          expect(errors.length).toBe(sets.length - good.length);
          for (const e of errors) expect(e.field).toBe('overrides');
          for (const s of good) expect(Object.hasOwn(overrides, s.slice(0, s.indexOf('=')).trim())).toBe(true);
        },
      ),
      RUNS,
    );
    const r = resolveConfig({
      ...{ variant: 'star', dataset: 'addition', preset: 'tiny' },
      overrides: parseSetArgs(['__proto__.toString=1']).overrides,
    });
    expect(r.ok ? [] : r.errors.map((e) => e.field)).toEqual(['overrides.__proto__.toString']);
  });
});

describe('configSchemaFor (properties on mutated configs)', () => {
  const mutation = fc.record({
    target: fc.nat(),
    op: fc.constantFrom('set', 'delete', 'add', 'replaceSection'),
    value: fc.oneof(fc.jsonValue(), fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, -1, 0, 'x'.repeat(MAX_CONFIG_STRING + 1))),
    name: fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom(...DANGEROUS)),
  });

  it('never throws, and every error names a path that is in the config or the schema', () => {
    fc.assert(
      fc.property(variant, dataset, preset, fc.array(mutation, { minLength: 1, maxLength: 3 }), (v, d, p, muts) => {
        const cfg: Record<string, unknown> = { ...presetDefaults(v, d, p)!, variant: v, dataset: d, preset: p, seed: 0 };
        const changed = new Set<string>();
        for (const m of muts) {
          const sections = Object.keys(sectionsFor(v as Variant, d as Dataset));
          const sec = sections[m.target % sections.length]!;
          const body = cfg[sec];
          if (m.op === 'replaceSection' || typeof body !== 'object' || body === null || Array.isArray(body)) {
            cfg[sec] = m.value;
            changed.add(sec);
            continue;
          }
          const keys = Object.keys(body);
          const key = m.op === 'add' ? m.name : (keys[m.target % Math.max(1, keys.length)] ?? m.name);
          const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
          if (m.op === 'delete') delete copy[key];
          else Object.defineProperty(copy, key, { value: m.value, enumerable: true, writable: true, configurable: true });
          cfg[sec] = copy;
          changed.add(sec);
        }
        const r = configSchemaFor(v as Variant, d as Dataset).safeParse(cfg);
        if (r.success) return;
        const errors = fieldErrors(r.error);
        expectNamedErrors(errors);
        // only the mutated sections, or a cross-field rule, are blamed
        for (const e of errors) if (!CROSS_FIELD.includes(e.field)) expect(changed).toContain(e.field.split('.')[0]);
      }),
      RUNS,
    );
  });

  it('names unknown keys by their full path', () => {
    const cfg: Record<string, unknown> = {
      ...presetDefaults('star', 'gsm8k', 'tiny')!,
      variant: 'star',
      dataset: 'gsm8k',
      preset: 'tiny',
      seed: 0,
    };
    (cfg.model as Record<string, unknown>).mystery = 1;
    const r = configSchemaFor('star', 'gsm8k').safeParse(cfg);
    expect(r.success).toBe(false);
    if (!r.success) expect(fieldErrors(r.error)).toEqual([{ field: 'model.mystery', message: 'unknown key "model.mystery"' }]);
  });

  it('refuses strings over the limit', () => {
    const r = resolveConfig({
      variant: 'star',
      dataset: 'gsm8k',
      preset: 'tiny',
      overrides: { 'task.path': JSON.stringify('p'.repeat(MAX_CONFIG_STRING + 1)) },
    });
    expect(r.ok ? [] : r.errors.map((e) => e.field)).toEqual(['task.path']);
  });
});
