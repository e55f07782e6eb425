/**
 * Experiment configuration: the schema every launch is validated against before a
 * process starts, and the resolution of (variant, dataset, preset, seed, overrides)
 * into one complete config. Preset *values* live in experiments/starlab/presets.json,
 * read by both this file and the Python package, so the two never disagree.
 */
import { z } from 'zod';
import presetsJson from '../experiments/starlab/presets.json';

export const VARIANTS = ['star'] as const;
export const DATASETS = ['addition'] as const;
export const PRESETS = ['tiny', 'paper'] as const;
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;

export const VARIANT_LABELS: Record<(typeof VARIANTS)[number], string> = {
  star: 'STaR (with rationalization)',
};

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().min(0);
const prob = z.number().min(0).max(1);
const learningRate = z.number().positive().max(1);

export const modelSchema = z
  .object({
    /** 'tiny': a randomly initialised Llama-style model built in code; 'hub': a hub id or local path. */
    source: z.enum(['tiny', 'hub']),
    name: z.string().min(1),
    n_layer: posInt.max(64),
    n_embd: posInt.max(8192),
    n_head: posInt.max(128),
    max_len: posInt.max(32768),
  })
  .strict()
  .refine((m) => m.n_embd % m.n_head === 0, { message: 'n_embd must be divisible by n_head', path: ['n_head'] });

export const taskSchema = z
  .object({
    min_digits: posInt.max(20),
    max_digits: posInt.max(20),
    train_per_digit: posInt.max(100000),
    eval_per_digit: posInt.max(100000),
  })
  .strict()
  .refine((t) => t.min_digits <= t.max_digits, { message: 'min_digits must be ≤ max_digits', path: ['max_digits'] });

export const warmupSchema = z
  .object({
    examples: nonNegInt.max(1000000),
    max_digits: posInt.max(20),
    hinted_fraction: prob,
    steps: nonNegInt.max(1000000),
    lr: learningRate,
    batch_size: posInt.max(4096),
  })
  .strict();

export const loopSchema = z
  .object({
    iterations: posInt.max(1000),
    rationalize: z.boolean(),
    p_rationalization: prob,
    base_steps: posInt.max(1000000),
    step_growth: z.number().min(1).max(10),
    lr: learningRate,
    batch_size: posInt.max(4096),
    restart_from_base: z.boolean(),
    temperature: z.number().min(0).max(5),
    max_new_tokens: posInt.max(4096),
  })
  .strict();

export const runtimeSchema = z
  .object({
    device: z.enum(DEVICES),
    threads: nonNegInt.max(1024),
  })
  .strict();

export const experimentConfigSchema = z
  .object({
    variant: z.enum(VARIANTS),
    dataset: z.enum(DATASETS),
    preset: z.enum(PRESETS),
    seed: nonNegInt.max(2 ** 31 - 1),
    model: modelSchema,
    task: taskSchema,
    warmup: warmupSchema,
    loop: loopSchema,
    runtime: runtimeSchema,
  })
  .strict();
export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;

export interface LaunchSpec {
  variant: string;
  dataset: string;
  preset: string;
  seed?: number;
  /** Dotted-path overrides, e.g. {"loop.iterations": "3"}; values are parsed as JSON where they can be. */
  overrides?: Record<string, string>;
}

export interface FieldError {
  /** Dotted path of the offending field ('variant', 'loop.lr', 'overrides.loop.foo'). */
  field: string;
  message: string;
}

export type ResolveResult = { ok: true; config: ExperimentConfig } | { ok: false; errors: FieldError[] };

type PresetTable = Record<string, Record<string, Record<string, Record<string, unknown>>>>;
const presetTable = presetsJson as unknown as PresetTable;

/** Preset defaults for a (variant, dataset, preset), or undefined where none is defined. */
export function presetDefaults(variant: string, dataset: string, preset: string): Record<string, unknown> | undefined {
  const d = presetTable[variant]?.[dataset]?.[preset];
  return d ? structuredClone(d) : undefined;
}

/** Parse an override value: JSON where it parses (numbers, booleans, quoted strings), else the raw string. */
export function parseOverrideValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Resolve and validate a launch into a full config. Never throws. */
export function resolveConfig(spec: LaunchSpec): ResolveResult {
  const errors: FieldError[] = [];
  if (!(VARIANTS as readonly string[]).includes(spec.variant))
    errors.push({ field: 'variant', message: `unknown variant "${spec.variant}" (known: ${VARIANTS.join(', ')})` });
  if (!(DATASETS as readonly string[]).includes(spec.dataset))
    errors.push({ field: 'dataset', message: `unknown dataset "${spec.dataset}" (known: ${DATASETS.join(', ')})` });
  if (!(PRESETS as readonly string[]).includes(spec.preset))
    errors.push({ field: 'preset', message: `unknown preset "${spec.preset}" (known: ${PRESETS.join(', ')})` });
  if (spec.seed !== undefined && (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 2 ** 31 - 1))
    errors.push({ field: 'seed', message: 'seed must be an integer in [0, 2^31-1]' });
  if (errors.length) return { ok: false, errors };

  const defaults = presetDefaults(spec.variant, spec.dataset, spec.preset);
  if (!defaults) {
    return {
      ok: false,
      errors: [{ field: 'preset', message: `preset "${spec.preset}" is not defined for ${spec.variant} on ${spec.dataset}` }],
    };
  }
  const cfg: Record<string, unknown> = {
    ...defaults,
    variant: spec.variant,
    dataset: spec.dataset,
    preset: spec.preset,
    seed: spec.seed ?? 0,
  };
  for (const [path, raw] of Object.entries(spec.overrides ?? {})) {
    const err = applyOverride(cfg, path, parseOverrideValue(raw));
    if (err) errors.push({ field: `overrides.${path}`, message: err });
  }
  if (errors.length) return { ok: false, errors };

  const parsed = experimentConfigSchema.safeParse(cfg);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({
        field: i.path.join('.') || '(config)',
        message: i.message,
      })),
    };
  }
  return { ok: true, config: parsed.data };
}

const FIXED_KEYS = new Set(['variant', 'dataset', 'preset', 'seed']);

function applyOverride(cfg: Record<string, unknown>, path: string, value: unknown): string | undefined {
  const parts = path.split('.');
  if (!path || parts.some((p) => p === '')) return 'empty key';
  if (FIXED_KEYS.has(parts[0]!)) return `"${parts[0]}" is set by its own option, not by an override`;
  let node: Record<string, unknown> = cfg;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]!];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) return `unknown key "${parts.slice(0, i + 1).join('.')}"`;
    node = next as Record<string, unknown>;
  }
  const leaf = parts[parts.length - 1]!;
  if (!(leaf in node)) return `unknown key "${path}"`;
  const old = node[leaf];
  if (typeof old === 'object' && old !== null) return `"${path}" is a section; set one of its keys`;
  node[leaf] = value;
  return undefined;
}

/** Parse CLI-style "key=value" strings into an overrides map. */
export function parseSetArgs(sets: string[]): { overrides: Record<string, string>; errors: FieldError[] } {
  const overrides: Record<string, string> = {};
  const errors: FieldError[] = [];
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) errors.push({ field: 'overrides', message: `expected key=value, got "${s}"` });
    else overrides[s.slice(0, i).trim()] = s.slice(i + 1);
  }
  return { overrides, errors };
}
