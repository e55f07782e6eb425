/**
 * Every `--set key=value` the README shows names a key some variant has, with a value of the
 * right type (issue 17: "every placeholder and example in the UI and README must validate").
 * Rules between fields (runtime.fsdp needs runtime.nproc > 1) are the prose's around them; a
 * value written as a placeholder (`N`) stands for 2.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../../shared/catalogue';
import { parseOverrideValue, SECTION_SCHEMAS, sectionsFor } from '../../shared/experiment-config';
import { REPO } from '../fixtures/helpers';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const examples = [...new Set([...readme.matchAll(/--set ([a-z_]+\.[a-z_]+)=([^\s`)]+)/g)].map((m) => `${m[1]}=${m[2]}`))];

describe('README --set examples', () => {
  it('finds the examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  it.each(examples)('%s is a key some variant has, with a valid value', (example) => {
    const [key, raw] = example.split('=') as [string, string];
    const [section, name] = key.split('.') as [string, string];
    const value = parseOverrideValue(raw === 'N' ? '2' : raw);
    const why: string[] = [];
    const ok = VARIANTS.some((variant) => {
      const schemaName = sectionsFor(variant, 'addition')[section];
      if (!schemaName) return false;
      const field = (
        SECTION_SCHEMAS[schemaName] as unknown as { shape: Record<string, { safeParse: (v: unknown) => { success: boolean } }> }
      ).shape[name];
      if (!field) return false;
      const r = field.safeParse(value);
      if (!r.success) why.push(`${variant}: ${JSON.stringify(value)} refused`);
      return r.success;
    });
    expect(ok, why.join('; ') || `no variant has ${key}`).toBe(true);
  });
});
