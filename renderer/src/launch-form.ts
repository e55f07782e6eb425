import type { FieldError, LaunchSpec } from '../../shared/experiment-config';
import { RESERVED_KEYS, reservedKeyMessage } from '../../shared/reserved-keys';

export interface FormState {
  variant: string;
  dataset: string;
  preset: string;
  seed: string;
  overrides: string;
}

export interface Parsed {
  spec: LaunchSpec;
  /** Errors found before asking the service (seed syntax, override lines). */
  local: FieldError[];
  /** Override key → 1-based line number in the textarea. */
  lines: Map<string, number>;
}

/** Parse the form into a LaunchSpec; overrides are `key=value` lines, `#` starts a comment. */
export function parseForm(f: FormState): Parsed {
  const local: FieldError[] = [];
  const lines = new Map<string, number>();
  const spec: LaunchSpec = { variant: f.variant, dataset: f.dataset, preset: f.preset };
  const seed = f.seed.trim();
  if (seed !== '') {
    if (!/^\d+$/.test(seed) || !Number.isSafeInteger(Number(seed)))
      local.push({ field: 'seed', message: 'seed must be a non-negative integer' });
    else spec.seed = Number(seed);
  }
  const overrides = Object.create(null) as Record<string, string>; // "__proto__" stays a key (refused below), not a prototype
  f.overrides.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!key) {
      local.push({ field: 'overrides', message: `line ${i + 1}: expected key=value, got "${line}"` });
      return;
    }
    if (key.length > 200) {
      local.push({ field: `overrides.${key.slice(0, 40)}…`, message: `line ${i + 1}: key too long` });
      return;
    }
    if (RESERVED_KEYS.includes(key)) {
      local.push({ field: `overrides.${key}`, message: `line ${i + 1}: ${reservedKeyMessage(key)}` });
      return;
    }
    if (Object.hasOwn(overrides, key)) {
      local.push({ field: `overrides.${key}`, message: `line ${i + 1}: "${key}" is set twice` });
      return;
    }
    overrides[key] = line.slice(eq + 1).trim();
    lines.set(key, i + 1);
  });
  if (Object.keys(overrides).length) spec.overrides = overrides;
  return { spec, local, lines };
}
