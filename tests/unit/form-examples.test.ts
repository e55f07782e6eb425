/**
 * The forms' placeholder examples are valid input (issue 17: the Sweeps placeholder
 * `train.lr=1e-4,3e-4` was itself refused with "unknown key train").
 */
import { describe, expect, it } from 'vitest';
import { parseAblationForm } from '../../renderer/src/ablation-form';
import { ABLATION_OVERRIDES_EXAMPLE, ABLATION_SWEEPS_EXAMPLE, LAUNCH_OVERRIDES_EXAMPLE } from '../../renderer/src/form-examples';
import { parseForm } from '../../renderer/src/launch-form';
import { expandAblation } from '../../shared/ablation';
import { resolveConfig } from '../../shared/experiment-config';

// the examples use loop.* keys: the STaR family's (Quiet-STaR's section is quiet.*)
const VARIANTS = ['star', 'star-norat', 'v-star'];

describe('form examples', () => {
  it.each(VARIANTS)('the launch form example is a valid %s config', (variant) => {
    const parsed = parseForm({ variant, dataset: 'addition', preset: 'tiny', seed: '', overrides: LAUNCH_OVERRIDES_EXAMPLE });
    expect(parsed.local).toEqual([]);
    const r = resolveConfig(parsed.spec);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('the ablation form examples expand to valid runs', () => {
    const { spec, local } = parseAblationForm({
      name: '',
      variants: VARIANTS,
      datasets: ['addition'],
      seeds: '0',
      preset: 'tiny',
      overrides: ABLATION_OVERRIDES_EXAMPLE,
      sweeps: ABLATION_SWEEPS_EXAMPLE,
    });
    expect(local).toEqual([]);
    const r = expandAblation(spec);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(r.runs).toHaveLength(VARIANTS.length * 2);
  });
});
