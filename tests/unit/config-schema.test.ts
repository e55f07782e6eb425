import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type z } from 'zod';
import { repoRoot, resolvePython } from '../../core/paths';
import {
  DATASETS,
  PRESETS,
  SECTION_SCHEMAS,
  VARIANTS,
  parseSetArgs,
  presetDefaults,
  resolveConfig,
  sectionsFor,
} from '../../shared/experiment-config';

const root = repoRoot();

function pythonSchema(): {
  schemas: Record<string, string[]>;
  sections: Record<string, Record<string, Record<string, string>>>;
  variants: string[];
  datasets: string[];
  presets: string[];
} {
  const { python } = resolvePython({ root });
  const out = execFileSync(python, ['-m', 'starlab', 'schema'], {
    env: { ...process.env, PYTHONPATH: join(root, 'experiments') },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

describe('experiment config schema', () => {
  it('has the same schemas, keys and sections as the Python validator', () => {
    const py = pythonSchema();
    expect(py.variants).toEqual([...VARIANTS]);
    expect(py.datasets).toEqual([...DATASETS]);
    expect(py.presets).toEqual([...PRESETS]);
    const ts = Object.fromEntries(Object.entries(SECTION_SCHEMAS).map(([name, s]) => [name, Object.keys((s as z.ZodObject).shape).sort()]));
    expect(py.schemas).toEqual(ts);
    for (const v of VARIANTS) for (const d of DATASETS) expect(py.sections[v]![d]).toEqual(sectionsFor(v, d));
  }, 60_000);

  it('resolves and validates every preset of every variant on every dataset', () => {
    for (const variant of VARIANTS)
      for (const dataset of DATASETS)
        for (const preset of PRESETS) {
          expect(presetDefaults(variant, dataset, preset), `${variant}/${dataset}/${preset}`).toBeDefined();
          const r = resolveConfig({ variant, dataset, preset, seed: 1 });
          expect(r.ok ? [] : r.errors, `${variant}/${dataset}/${preset}`).toEqual([]);
          if (r.ok)
            expect(Object.keys(r.config).sort()).toEqual(
              ['variant', 'dataset', 'preset', 'seed', ...Object.keys(sectionsFor(variant, dataset))].sort(),
            );
        }
  });

  it('layers presets: dataset, then variant, then the pair override', () => {
    const r = resolveConfig({ variant: 'v-star', dataset: 'addition', preset: 'tiny' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.task).toMatchObject({ train_per_digit: 100 }); // override
    expect(r.config.verifier?.candidates).toBe(8); // variant layer
    expect(r.config.model.source).toBe('tiny'); // dataset layer
  });

  it('refuses what the Python validator refuses (cross-field and sequence-length rules)', () => {
    const { python } = resolvePython({ root });
    const cases: [string, string, Record<string, string>][] = [
      ['star', 'addition', { 'model.max_len': '30' }],
      ['star', 'addition', { 'loop.max_new_tokens': '5' }],
      ['quiet-star', 'addition', { 'quiet.max_new_tokens': '5', 'warmup.max_digits': '4' }],
      ['v-star', 'addition', { 'loop.finetune': '"lora"', 'loop.restart_from_base': 'false' }],
      ['v-star', 'gsm8k', { 'verifier.candidates': '1001' }],
      ['star-norat', 'commonsenseqa', { 'model.n_head': '5' }],
      ['star', 'addition', {}],
      ['v-star', 'pair-sum', { 'model.max_len': '29' }],
      ['star', 'pair-sum', { 'loop.max_new_tokens': '6', 'task.digits': '2' }],
      ['quiet-star', 'pair-sum', { 'task.min_numbers': '8' }],
      ['star-norat', 'pair-sum', {}],
      ['v-star', 'addition', { 'runtime.nproc': '2' }],
      ['quiet-star', 'gsm8k', { 'runtime.nproc': '4' }],
      ['star-norat', 'addition', { 'runtime.nproc': '2' }],
      ['star', 'gsm8k', { 'runtime.nproc': '0' }],
      ['star', 'gsm8k', { 'runtime.nproc': '65' }],
      ['quiet-star', 'addition', { 'runtime.engine': '"vllm"' }],
      ['star', 'addition', { 'runtime.engine': '"vllm"', 'runtime.nproc': '2' }],
      ['v-star', 'addition', { 'runtime.engine': '"auto"' }],
      ['star', 'addition', { 'runtime.engine': '"sglang"' }],
      ['star', 'addition', { 'runtime.fsdp': 'true' }],
      ['star', 'gsm8k', { 'runtime.nproc': '2', 'runtime.fsdp': 'true' }],
      ['quiet-star', 'addition', { 'runtime.nproc': '2', 'runtime.fsdp': 'true' }],
      ['star', 'addition', { 'runtime.nproc': '2', 'runtime.fsdp': 'true', 'loop.finetune': '"lora"' }],
      ['star-norat', 'addition', { 'runtime.fsdp': '"yes"' }],
    ];
    const dir = mkdtempSync(join(tmpdir(), 'starlab-cfg-'));
    try {
      for (const [variant, dataset, overrides] of cases) {
        // the config as the user wrote it (before zod's checks): preset + overrides
        const raw: Record<string, unknown> = { ...presetDefaults(variant, dataset, 'tiny')!, variant, dataset, preset: 'tiny', seed: 0 };
        for (const [k, v] of Object.entries(overrides)) {
          const [sec, key] = k.split('.') as [string, string];
          (raw[sec] as Record<string, unknown>)[key] = JSON.parse(v);
        }
        const file = join(dir, 'c.json');
        writeFileSync(file, JSON.stringify(raw));
        let pyOut: string;
        try {
          pyOut = execFileSync(python, ['-m', 'starlab', 'validate', '--config', file], {
            env: { ...process.env, PYTHONPATH: join(root, 'experiments') },
            encoding: 'utf8',
          });
        } catch (e) {
          pyOut = (e as { stdout: string }).stdout;
        }
        const py = (JSON.parse(pyOut) as { errors: { field: string }[] }).errors.map((e) => e.field).sort();
        const r = resolveConfig({ variant, dataset, preset: 'tiny', overrides });
        const ts = (r.ok ? [] : r.errors.map((e) => e.field)).sort();
        expect(ts, `${variant}/${dataset} ${JSON.stringify(overrides)}`).toEqual(py);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('names the fields a variant does not have', () => {
    const r = resolveConfig({
      variant: 'star-norat',
      dataset: 'addition',
      preset: 'tiny',
      overrides: { 'loop.p_rationalization': '0.5', 'quiet.steps': '3' },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field).sort()).toEqual(['overrides.loop.p_rationalization', 'overrides.quiet.steps']);
    const bad = resolveConfig({ variant: 'v-star', dataset: 'gsm8k', preset: 'tiny', overrides: { 'verifier.beta': '0' } });
    expect(bad.ok ? [] : bad.errors.map((e) => e.field)).toEqual(['verifier.beta']);
  });

  it('refuses overrides of inherited names and never touches Object.prototype', () => {
    for (const key of ['__proto__.toString', 'model.constructor', 'constructor.name', 'loop.hasOwnProperty']) {
      const r = resolveConfig({ variant: 'star', dataset: 'addition', preset: 'tiny', overrides: { [key]: '1' } });
      expect(r.ok ? [] : r.errors.map((e) => e.field), key).toEqual([`overrides.${key}`]);
    }
    expect(typeof {}.toString).toBe('function');
    expect(Object.hasOwn(parseSetArgs(['__proto__=1']).overrides, '__proto__')).toBe(true);
  });
});

describe('overrides (issue 17)', () => {
  it('suggest the nearest key for a typo', () => {
    const r = resolveConfig({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      overrides: { 'loop.itrations': '3', 'lop.lr': '1e-4' },
    });
    expect(r.ok ? [] : r.errors).toEqual([
      { field: 'overrides.loop.itrations', message: 'unknown key "loop.itrations" (did you mean "loop.iterations"?)' },
      { field: 'overrides.lop.lr', message: 'unknown key "lop" (did you mean "loop"?)' },
    ]);
    const far = resolveConfig({ variant: 'star', dataset: 'addition', preset: 'tiny', overrides: { 'loop.zzzzzz': '3' } });
    expect(far.ok ? [] : far.errors).toEqual([{ field: 'overrides.loop.zzzzzz', message: 'unknown key "loop.zzzzzz"' }]);
  });

  it("quote the bad value (errors in the config's order)", () => {
    const r = resolveConfig({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      overrides: { 'loop.iterations': 'abc', 'loop.lr': '-1', 'model.n_head': 'x'.repeat(100) },
    });
    expect(r.ok ? [] : r.errors.map((e) => [e.field, e.message.replace(/^.*(?= \(got )/, '')])).toEqual([
      ['model.n_head', ` (got "${'x'.repeat(56)}…)`],
      ['loop.iterations', ' (got "abc")'],
      ['loop.lr', ' (got -1)'],
    ]);
  });

  it('may set a key the schema has and the preset leaves out', () => {
    const r = resolveConfig({ variant: 'v-star', dataset: 'addition', preset: 'tiny', overrides: { 'verifier.save': 'every' } });
    expect(r.ok && r.config.verifier?.save).toBe('every');
    const bad = resolveConfig({ variant: 'v-star', dataset: 'addition', preset: 'tiny', overrides: { 'verifier.save': 'sometimes' } });
    expect(bad.ok ? [] : bad.errors.map((e) => e.field)).toEqual(['verifier.save']);
    // not a schema key of star's sections
    const star = resolveConfig({ variant: 'star', dataset: 'addition', preset: 'tiny', overrides: { 'verifier.save': 'every' } });
    expect(star.ok).toBe(false);
  });
});
