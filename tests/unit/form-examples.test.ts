/**
 * The forms' placeholder examples are valid input for the variants chosen (issue 17: the Sweeps
 * placeholder `train.lr=1e-4,3e-4` was itself refused with "unknown key train").
 */
import { describe, expect, it } from 'vitest';
import { parseAblationForm } from '../../renderer/src/ablation-form';
import { ablationOverridesExample, ablationSweepsExample, launchOverridesExample } from '../../renderer/src/form-examples';
import { parseForm } from '../../renderer/src/launch-form';
import { expandAblation } from '../../shared/ablation';
import { resolveConfig } from '../../shared/experiment-config';

const VARIANTS = ['star', 'star-norat', 'v-star', 'quiet-star'];

describe('form examples', () => {
  it.each(VARIANTS)('the launch form example is a valid %s config', (variant) => {
    const parsed = parseForm({ variant, dataset: 'addition', preset: 'tiny', seed: '', overrides: launchOverridesExample(variant) });
    expect(parsed.local).toEqual([]);
    const r = resolveConfig(parsed.spec);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it.each([[['star', 'star-norat', 'v-star']], [['quiet-star']], [VARIANTS], [['star', 'quiet-star']]])(
    'the ablation form examples for %j expand to valid runs',
    (variants) => {
      const { spec, local } = parseAblationForm({
        name: '',
        variants,
        datasets: ['addition'],
        seeds: '0',
        preset: 'tiny',
        overrides: ablationOverridesExample(variants),
        sweeps: ablationSweepsExample(variants),
      });
      expect(local).toEqual([]);
      const r = expandAblation(spec);
      expect(r.ok ? [] : r.errors).toEqual([]);
      if (r.ok) expect(r.runs).toHaveLength(variants.length * 2);
    },
  );
});
