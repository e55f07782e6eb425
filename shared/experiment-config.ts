/**
 * Experiment configuration: the schema every launch is validated against before a
 * process starts, and the resolution of (variant, dataset, preset, seed, overrides)
 * into one complete config. Preset *values* live in experiments/starlab/presets.json,
 * read by both this file and the Python package, so the two never disagree.
 */
import { z } from 'zod';
import presetsJson from '../experiments/starlab/presets.json';
import { VARIANTS, VARIANT_INFO, VARIANT_LABELS, type Variant } from './catalogue';

/** The variants and their labels come from experiments/starlab/catalogue.json. */
export { VARIANTS, VARIANT_LABELS, type Variant };
export const DATASETS = ['addition', 'gsm8k', 'commonsenseqa', 'pair-sum'] as const;
export const PRESETS = ['tiny', 'paper'] as const;
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
export const FINETUNE_MODES = ['full', 'lora'] as const;
/** Weights and compute: auto = float32 for tiny models and on CPU; on CUDA, bfloat16 weights for LoRA and
 * mixed (float32 weights, bfloat16 autocast) for full fine-tuning. float16 is not offered: AdamW overflows. */
export const DTYPES = ['auto', 'float32', 'bfloat16', 'mixed'] as const;
/** The fine-tune's learning-rate schedule: 'cosine' = 5% linear warm-up then cosine to 0 over the
 * iteration's steps; 'constant' = the STaR reference's (gpt3_schedule with end_lr = lr): linear
 * warm-up from 0 over loop.warmup_steps, then constant. */
export const LR_SCHEDULES = ['cosine', 'constant'] as const;
export type Dataset = (typeof DATASETS)[number];

export const DATASET_LABELS: Record<Dataset, string> = {
  addition: 'n-digit addition (synthetic)',
  gsm8k: 'GSM8K',
  commonsenseqa: 'CommonsenseQA',
  'pair-sum': 'pair sum: the pair of a list that adds up to a target (synthetic)',
};

/** Datasets generated in code from the seed: no files to import or locate. */
export const SYNTHETIC_DATASETS: readonly Dataset[] = ['addition', 'pair-sum'];

/** Longest string a config accepts (model names, dataset paths); the Python mirror has the same limit. */
export const MAX_CONFIG_STRING = 4096;
/** runtime.nproc's bound (MAX_NPROC of experiments/starlab/config.py). */
export const MAX_NPROC = 64;

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().min(0);
const prob = z.number().min(0).max(1);
const learningRate = z.number().positive().max(1);

// Every section is strict (unknown keys are errors) and every key is required, except the loop's
// packing and schedule keys and V-STaR's generator keys (`.optional()`: added after configs were stored, absent meaning the
// behaviour from before them, so stored configs keep their hash). The Python
// mirror (experiments/starlab/config.py) has the same schemas under the same names; a unit
// test compares the two key by key.

export const modelSchema = z
  .object({
    /** 'tiny': a randomly initialised Llama-style model built in code; 'hub': a hub id or local path. */
    source: z.enum(['tiny', 'hub']),
    name: z.string().min(1).max(MAX_CONFIG_STRING),
    n_layer: posInt.max(64),
    n_embd: posInt.max(8192),
    n_head: posInt.max(128),
    max_len: posInt.max(32768),
  })
  .strict();

export const additionTaskSchema = z
  .object({
    min_digits: posInt.max(20),
    max_digits: posInt.max(20),
    train_per_digit: posInt.max(100000),
    eval_per_digit: posInt.max(100000),
    /** Put few-shot exemplars before every prompt (for a pretrained model without warm-up). */
    few_shot: z.boolean(),
  })
  .strict();

/** pair-sum (experiments/starlab/tasks/pair_sum.py): lists of min_numbers..max_numbers distinct two-digit
 * numbers, exactly one pair of which sums to the target; per_length questions of each list length. */
export const pairSumTaskSchema = z
  .object({
    min_numbers: z.number().int().min(2).max(64),
    max_numbers: z.number().int().min(2).max(64),
    /** Digits of every number: 1 (0–9) or more (10–99 for 2). */
    digits: posInt.max(4),
    train_per_length: posInt.max(100000),
    eval_per_length: posInt.max(100000),
    few_shot: z.boolean(),
  })
  .strict();

/** GSM8K and CommonsenseQA: local JSONL files (or the hub, on a connected machine). */
export const textTaskSchema = z
  .object({
    /** Directory holding the dataset's JSONL files; '' looks in the default places (see experiments/README.md). */
    path: z.string().max(MAX_CONFIG_STRING),
    /** Questions taken from the training split (0: all of them). */
    train_limit: nonNegInt.max(10000000),
    /** Questions taken from the evaluation split (GSM8K test, CommonsenseQA dev; 0: all). */
    eval_limit: nonNegInt.max(10000000),
    few_shot: z.boolean(),
  })
  .strict();

export const additionWarmupSchema = z
  .object({
    examples: nonNegInt.max(1000000),
    max_digits: posInt.max(20),
    hinted_fraction: prob,
    steps: nonNegInt.max(1000000),
    lr: learningRate,
    batch_size: posInt.max(4096),
  })
  .strict();

export const textWarmupSchema = z
  .object({
    examples: nonNegInt.max(1000000),
    hinted_fraction: prob,
    steps: nonNegInt.max(1000000),
    lr: learningRate,
    batch_size: posInt.max(4096),
  })
  .strict();

/** The STaR loop without rationalization: star-norat (V-STaR's generator extends it, vstarLoopSchema). */
export const loopSchema = z
  .object({
    iterations: posInt.max(1000),
    base_steps: posInt.max(1000000),
    step_growth: z.number().min(1).max(10),
    lr: learningRate,
    batch_size: posInt.max(4096),
    restart_from_base: z.boolean(),
    /** Sampling temperature for the training questions (STaR: near-greedy). */
    temperature: z.number().min(0).max(5),
    samples_per_question: posInt.max(1024),
    max_new_tokens: posInt.max(4096),
    finetune: z.enum(FINETUNE_MODES),
    lora_r: posInt.max(1024),
    lora_alpha: z.number().positive().max(4096),
    // How an iteration's fine-tune batches and schedules (experiments/starlab/train.py). The
    // star/star-norat presets set them; absent: unpacked batches, 'cosine', one forward a step.
    /** Pack whole examples into rows of at most pack_len tokens, each example attending only to itself. */
    pack: z.boolean().optional(),
    pack_len: posInt.max(1048576).optional(),
    /** Rows per forward, gradients accumulated over the step's batch_size rows (0: all in one forward). */
    micro_batch_size: nonNegInt.max(4096).optional(),
    lr_schedule: z.enum(LR_SCHEDULES).optional(),
    /** Linear warm-up steps of the 'constant' schedule ('cosine' warms up over 5% of the steps). */
    warmup_steps: nonNegInt.max(1000000).optional(),
  })
  .strict();

/** STaR: the loop plus rationalization of the questions it got wrong. */
export const starLoopSchema = loopSchema
  .extend({
    /** Share of the wrong questions retried with the gold answer as a hint. */
    p_rationalization: prob,
  })
  .strict();

/** V-STaR's generator: the loop, plus how G_t is fine-tuned on D_GEN each iteration (`.optional()`: absent means the behaviour from before them). */
export const vstarLoopSchema = loopSchema
  .extend({
    /** Epochs over D_GEN per iteration, as the paper trains its generator (absent or 0: loop.base_steps · step_growth^(n−1) steps). */
    epochs: z.number().min(0).max(1000).optional(),
    /** D_GEN starts as D_SFT, the warm-up examples, as the paper's Algorithm 1 (absent: false, the correct samples only). */
    include_sft: z.boolean().optional(),
  })
  .strict();

/** V-STaR's verifier: DPO on (right, wrong) pairs against the SFT reference, plus an ORM baseline. */
export const verifierSchema = z
  .object({
    beta: z.number().positive().max(100),
    pairs_per_question: posInt.max(10000),
    steps: nonNegInt.max(1000000),
    lr: learningRate,
    batch_size: posInt.max(4096),
    /** N: candidates generated per evaluation question, all stored with their scores. */
    candidates: posInt.max(1000),
    temperature: z.number().min(0).max(5),
    /** Outcome-reward-model baseline steps (0: no ORM). */
    orm_steps: nonNegInt.max(1000000),
    orm_lr: learningRate,
    /** Which iterations' verifiers the run keeps as deployable folders (verifier/iter_N; absent: the last). */
    save: z.enum(['last', 'every', 'none']).optional(),
  })
  .strict();

/** Quiet-STaR training corpus sources (quiet.corpus; experiments/starlab/corpus.py). */
export const QUIET_CORPUS_SOURCES = ['task', 'direct', 'file', 'hub'] as const;

/** Quiet-STaR: thoughts after every token, a mixing head, REINFORCE on the lookahead gain. */
export const quietSchema = z
  .object({
    steps: posInt.max(10000000),
    lr: learningRate,
    batch_size: posInt.max(4096),
    /** Tokens per training sequence. */
    seq_len: posInt.max(32768),
    /** Thoughts sampled per position (the REINFORCE baseline is their mean). */
    n_thoughts: posInt.max(64),
    /** Tokens per thought, between the start- and end-of-thought tokens. */
    thought_len: posInt.max(256),
    /** True tokens ahead whose log-likelihood the reward measures. */
    n_ahead: posInt.max(64),
    thought_temperature: z.number().positive().max(5),
    policy_weight: z.number().min(0).max(1e7),
    /** Evaluate every this many steps (each evaluation is one point of the curve). */
    eval_every: posInt.max(10000000),
    max_new_tokens: posInt.max(4096),
    // Optimisation as the reference code (`.optional()`: absent means the behaviour before them,
    // starlab/variants/quiet_star.py QUIET_DEFAULTS).
    /** Micro-batches of batch_size rows per optimizer step (absent: 1). */
    grad_accum: posInt.max(4096).optional(),
    /** Start/end-of-thought embeddings stored ÷ and used × this: ≈ their learning-rate multiplier (reference 100; absent: 1). */
    embedding_scale: z.number().positive().max(10000).optional(),
    /** Temperature of the REINFORCE log-probs (reference 3; absent: thought_temperature). */
    reinforce_temperature: z.number().positive().max(100).optional(),
    /** full, or LoRA adapters on the LM's linear layers (absent: full); the mixing head and thought embeddings always train. */
    finetune: z.enum(FINETUNE_MODES).optional(),
    lora_r: posInt.max(1024).optional(),
    lora_alpha: z.number().positive().max(4096).optional(),
    /** Learning rate of the LoRA adapters (absent: lr); the head and thought embeddings use lr. */
    lora_lr: learningRate.optional(),
    /** Recompute each transformer forward of a training step in backward (absent: false). */
    grad_checkpoint: z.boolean().optional(),
    /** Eval questions (evenly spaced) also decoded greedily for the exact-match metrics (absent: all); the teacher-forced metric covers all. */
    exact_match_limit: posInt.max(10000000).optional(),
    /** Training corpus (experiments/starlab/corpus.py; absent: the task's references, a long one split): task | direct | file | hub. */
    corpus: z.enum(QUIET_CORPUS_SOURCES).optional(),
    /** The corpus file (file: JSONL or text) or hub dataset id (hub). */
    corpus_path: z.string().max(MAX_CONFIG_STRING).optional(),
    /** The JSONL / hub field holding a document's text (absent: "text"). */
    corpus_field: z.string().min(1).max(256).optional(),
    /** Documents read from a file or the hub (0 or absent: all; the hub at most 10000). */
    corpus_limit: nonNegInt.max(100000000).optional(),
    /** Warm-up completions: reference (the task's, absent) or direct (the gold answer straight after the prompt). */
    warmup_format: z.enum(['reference', 'direct']).optional(),
    /** Share of the direct warm-up lines written with their work between thought markers (addition; absent: 0). */
    warmup_thoughts: prob.optional(),
  })
  .strict();

export const runtimeSchema = z
  .object({
    device: z.enum(DEVICES),
    threads: nonNegInt.max(1024),
    dtype: z.enum(DTYPES),
    /** Prompts decoded together (0: 512 for tiny models, 32 for hub models). */
    gen_batch_size: nonNegInt.max(65536),
    /** Processes under torchrun, one per device (absent: 1; experiments/starlab/dist.py). */
    nproc: posInt.max(MAX_NPROC).optional(),
    /** Where samples come from (absent: hf; experiments/starlab/engines.py). */
    engine: z.enum(['hf', 'vllm', 'auto']).optional(),
    /** Fine-tunes sharded with FSDP over the runtime.nproc processes (absent: false; DDP). */
    fsdp: z.boolean().optional(),
  })
  .strict();

/** Named section schemas (the Python mirror uses the same names). */
export const SECTION_SCHEMAS = {
  modelSchema,
  additionTaskSchema,
  pairSumTaskSchema,
  textTaskSchema,
  additionWarmupSchema,
  textWarmupSchema,
  loopSchema,
  starLoopSchema,
  vstarLoopSchema,
  verifierSchema,
  quietSchema,
  runtimeSchema,
} as const;
export type SectionSchemaName = keyof typeof SECTION_SCHEMAS;

/** Which sections a (variant, dataset) config has, and the schema of each. */
export function sectionsFor(variant: Variant, dataset: Dataset): Record<string, SectionSchemaName> {
  const addition = dataset === 'addition';
  const common: Record<string, SectionSchemaName> = {
    model: 'modelSchema',
    task: addition ? 'additionTaskSchema' : dataset === 'pair-sum' ? 'pairSumTaskSchema' : 'textTaskSchema',
    warmup: addition ? 'additionWarmupSchema' : 'textWarmupSchema',
  };
  switch (variant) {
    case 'star':
      return { ...common, loop: 'starLoopSchema', runtime: 'runtimeSchema' };
    case 'star-norat':
      return { ...common, loop: 'loopSchema', runtime: 'runtimeSchema' };
    case 'v-star':
      return { ...common, loop: 'vstarLoopSchema', verifier: 'verifierSchema', runtime: 'runtimeSchema' };
    case 'quiet-star':
      return { ...common, quiet: 'quietSchema', runtime: 'runtimeSchema' };
  }
}

/** The full config schema of one (variant, dataset), with its cross-field rules. */
export function configSchemaFor(variant: Variant, dataset: Dataset) {
  const shape: Record<string, z.ZodType> = {
    variant: z.literal(variant),
    dataset: z.literal(dataset),
    preset: z.enum(PRESETS),
    seed: nonNegInt.max(2 ** 31 - 1),
  };
  for (const [section, name] of Object.entries(sectionsFor(variant, dataset))) shape[section] = SECTION_SCHEMAS[name];
  return z
    .object(shape)
    .strict()
    .superRefine((c, ctx) => {
      const cfg = c as unknown as ExperimentConfig;
      if (cfg.model.n_embd % cfg.model.n_head !== 0)
        ctx.addIssue({ code: 'custom', path: ['model', 'n_head'], message: 'n_embd must be divisible by n_head' });
      const task = cfg.task as { min_digits?: number; max_digits?: number };
      if (task.min_digits !== undefined && task.max_digits !== undefined && task.min_digits > task.max_digits)
        ctx.addIssue({ code: 'custom', path: ['task', 'max_digits'], message: 'min_digits must be ≤ max_digits' });
      const pairs = cfg.task as { min_numbers?: number; max_numbers?: number; digits?: number };
      if (pairs.min_numbers !== undefined && pairs.max_numbers !== undefined && pairs.min_numbers > pairs.max_numbers)
        ctx.addIssue({ code: 'custom', path: ['task', 'max_numbers'], message: 'min_numbers must be ≤ max_numbers' });
      // the sequence lengths of the pair-sum format (experiments/starlab/tasks/pair_sum.py), for tiny models
      if (cfg.dataset === 'pair-sum' && cfg.model.source === 'tiny' && pairs.max_numbers !== undefined && pairs.digits !== undefined) {
        const d = pairs.digits;
        const needLen = pairs.max_numbers * (d + 1) + 6 * d + 10;
        if (cfg.model.max_len < needLen)
          ctx.addIssue({
            code: 'custom',
            path: ['model', 'max_len'],
            message: `must be ≥ ${needLen} for lists of ${pairs.max_numbers} numbers with hint and completion`,
          });
        const gen = cfg.loop
          ? { section: 'loop', v: cfg.loop.max_new_tokens }
          : cfg.quiet
            ? { section: 'quiet', v: cfg.quiet.max_new_tokens }
            : null;
        if (gen && gen.v < 3 * d + 4)
          ctx.addIssue({
            code: 'custom',
            path: [gen.section, 'max_new_tokens'],
            message: `must be ≥ ${3 * d + 4} to write a pair and its sum`,
          });
      }
      if ((cfg.runtime.nproc ?? 1) > 1 && !VARIANT_INFO.find((v) => v.id === cfg.variant)?.multiProcess) {
        const ids = VARIANT_INFO.filter((v) => v.multiProcess).map((v) => v.id);
        const runs = ids.length > 1 ? `${ids.slice(0, -1).join(', ')} and ${ids.at(-1)}` : ids.join('');
        ctx.addIssue({
          code: 'custom',
          path: ['runtime', 'nproc'],
          message: `${cfg.variant} runs in one process (runtime.nproc > 1, torchrun, runs ${runs}): set it to 1`,
        });
      }
      if (cfg.runtime.fsdp) {
        const message =
          (cfg.runtime.nproc ?? 1) <= 1
            ? 'shards the fine-tunes over the processes of runtime.nproc: set runtime.nproc > 1'
            : cfg.variant !== 'star' && cfg.variant !== 'star-norat'
              ? `${cfg.variant} trains steps that are not sharded (whole copies per GPU): runtime.fsdp is for star and star-norat`
              : (cfg as { loop?: { finetune?: string } }).loop?.finetune === 'lora'
                ? 'LoRA trains small adapters, which DDP handles: drop runtime.fsdp'
                : null;
        if (message) ctx.addIssue({ code: 'custom', path: ['runtime', 'fsdp'], message });
      }
      const engine = cfg.runtime.engine ?? 'hf';
      if (engine !== 'hf' && VARIANT_INFO.find((v) => v.id === cfg.variant)?.family !== 'star')
        ctx.addIssue({
          code: 'custom',
          path: ['runtime', 'engine'],
          message: `${cfg.variant} samples its thoughts itself: runtime.engine must be hf`,
        });
      if (cfg.loop?.finetune === 'lora' && !cfg.loop.restart_from_base)
        ctx.addIssue({
          code: 'custom',
          path: ['loop', 'restart_from_base'],
          message: 'LoRA fine-tuning restarts from the base every iteration (a fresh adapter): set it true, or use finetune full',
        });
      if (cfg.loop?.pack && cfg.loop.pack_len === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['loop', 'pack_len'],
          message: 'packing (loop.pack true) needs loop.pack_len, the tokens of a packed row',
        });
      // the sequence lengths of the addition format (experiments/starlab/tasks/addition.py), for tiny models
      if (cfg.dataset === 'addition' && cfg.model.source === 'tiny' && task.max_digits !== undefined) {
        const digits = Math.max(task.max_digits, (cfg.warmup as { max_digits?: number }).max_digits ?? 0);
        const needLen = 9 * digits + 9;
        if (cfg.model.max_len < needLen)
          ctx.addIssue({
            code: 'custom',
            path: ['model', 'max_len'],
            message: `must be ≥ ${needLen} for ${digits}-digit addition with hint and rationale`,
          });
        const gen = cfg.loop
          ? { section: 'loop', v: cfg.loop.max_new_tokens }
          : cfg.quiet
            ? { section: 'quiet', v: cfg.quiet.max_new_tokens }
            : null;
        const needNew = 6 * task.max_digits + 3;
        if (gen && gen.v < needNew)
          ctx.addIssue({
            code: 'custom',
            path: [gen.section, 'max_new_tokens'],
            message: `must be ≥ ${needNew} to write a ${task.max_digits}-digit rationale`,
          });
      }
    });
}

/** A resolved config. Sections beyond model/task/runtime depend on the variant. */
export interface ExperimentConfig {
  variant: Variant;
  dataset: Dataset;
  preset: (typeof PRESETS)[number];
  seed: number;
  model: z.infer<typeof modelSchema>;
  task: z.infer<typeof additionTaskSchema> | z.infer<typeof pairSumTaskSchema> | z.infer<typeof textTaskSchema>;
  warmup: z.infer<typeof additionWarmupSchema> | z.infer<typeof textWarmupSchema>;
  loop?: z.infer<typeof starLoopSchema> | z.infer<typeof loopSchema> | z.infer<typeof vstarLoopSchema>;
  verifier?: z.infer<typeof verifierSchema>;
  quiet?: z.infer<typeof quietSchema>;
  runtime: z.infer<typeof runtimeSchema>;
}

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

type Layer = Record<string, Record<string, unknown>>;
interface PresetFile {
  datasets: Record<string, Record<string, Layer>>;
  variants: Record<string, Record<string, Layer>>;
  overrides: Record<string, Record<string, Record<string, Layer>>>;
}
const presetFile = presetsJson as unknown as PresetFile;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** obj[key] when it is the object's own key (never an inherited one such as 'constructor'). */
function own(obj: unknown, key: string): unknown {
  return isPlainObject(obj) && Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Deep merge of plain objects (b wins); arrays and scalars replace. */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

/**
 * Preset defaults for a (variant, dataset, preset): the dataset layer, then the variant's,
 * then any override for the pair (see the file's _doc); undefined where none is defined.
 */
export function presetDefaults(variant: string, dataset: string, preset: string): Record<string, unknown> | undefined {
  const base = own(own(presetFile.datasets, dataset), preset);
  const forVariant = own(own(presetFile.variants, variant), preset);
  if (!isPlainObject(base) || !isPlainObject(forVariant)) return undefined;
  const pair = own(own(own(presetFile.overrides, variant), dataset), preset);
  const merged = deepMerge(deepMerge(base, forVariant), isPlainObject(pair) ? pair : {});
  return structuredClone(merged);
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
  const sections = sectionsFor(spec.variant as Variant, spec.dataset as Dataset) as Record<string, SectionSchemaName | undefined>;
  const schemaKeys = (section: string): readonly string[] => {
    const name = sections[section];
    const schema = name ? (SECTION_SCHEMAS[name] as unknown as { shape?: Record<string, unknown> }) : undefined;
    return schema?.shape ? Object.keys(schema.shape) : [];
  };
  for (const [path, raw] of Object.entries(spec.overrides ?? {})) {
    const err = applyOverride(cfg, path, parseOverrideValue(raw), schemaKeys);
    if (err) errors.push({ field: `overrides.${path}`, message: err });
  }
  if (errors.length) return { ok: false, errors };

  const parsed = configSchemaFor(spec.variant as Variant, spec.dataset as Dataset).safeParse(cfg);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error, cfg) };
  return { ok: true, config: parsed.data as unknown as ExperimentConfig };
}

/**
 * zod issues as FieldErrors with dotted paths; an unrecognized-keys issue becomes one error per
 * key, named by its full path ('model.foo'), as the Python validator names them. Given the
 * input, a message quotes the bad value (`… (got "abc")`).
 */
export function fieldErrors(err: z.ZodError, input?: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const i of err.issues) {
    const base = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ field: base ? `${base}.${k}` : k, message: `unknown key "${base ? `${base}.${k}` : k}"` });
    } else out.push({ field: base || '(config)', message: i.message + quoteValue(input, i.path) });
  }
  return out;
}

/** ` (got VALUE)` for the scalar at `path` in `input`, cut to 60 characters; '' when there is none. */
function quoteValue(input: unknown, path: readonly PropertyKey[]): string {
  if (input === undefined || !path.length) return '';
  let v: unknown = input;
  for (const p of path) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, p)) return '';
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  if (v !== null && typeof v === 'object') return '';
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return ` (got ${s.length > 60 ? `${s.slice(0, 57)}…` : s})`;
}

const FIXED_KEYS = new Set(['variant', 'dataset', 'preset', 'seed']);

/** Edit distance (insertions, deletions, substitutions) between two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length]!;
}

/** `unknown key "p"`, with the nearest of `known` (at most 2 edits away, fewer for short names) as a suggestion. */
function unknownKey(path: string, name: string, known: readonly string[], prefix: string): string {
  const limit = name.length <= 4 ? 1 : 2;
  const near = known
    .map((k) => ({ k, d: editDistance(name.toLowerCase(), k.toLowerCase()) }))
    .filter((x) => x.d <= limit)
    .sort((x, y) => x.d - y.d || x.k.localeCompare(y.k))[0];
  return `unknown key "${path}"${near ? ` (did you mean "${prefix}${near.k}"?)` : ''}`;
}

/**
 * Set `path` in `cfg`. A key the preset leaves out is allowed where the section's schema has it
 * (`schemaKeys(section)`: an optional key such as verifier.save); anything else is an unknown
 * key, with the nearest known name suggested for a typo.
 */
function applyOverride(
  cfg: Record<string, unknown>,
  path: string,
  value: unknown,
  schemaKeys: (section: string) => readonly string[] = () => [],
): string | undefined {
  const parts = path.split('.');
  if (!path || parts.some((p) => p === '')) return 'empty key';
  if (FIXED_KEYS.has(parts[0]!)) return `"${parts[0]}" is set by its own option, not by an override`;
  // Own keys only: an inherited name ('__proto__', 'constructor', 'toString') must never be walked
  // into or assigned, or an override could rewrite Object.prototype for the whole process.
  let node: Record<string, unknown> = cfg;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = Object.hasOwn(node, parts[i]!) ? node[parts[i]!] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      const sections = Object.keys(node).filter((k) => typeof node[k] === 'object' && node[k] !== null);
      return unknownKey(
        parts.slice(0, i + 1).join('.'),
        parts[i]!,
        sections,
        parts
          .slice(0, i)
          .map((p) => `${p}.`)
          .join(''),
      );
    }
    node = next as Record<string, unknown>;
  }
  const leaf = parts[parts.length - 1]!;
  const section = parts.slice(0, -1).join('.');
  const optional = parts.length === 2 ? schemaKeys(section) : [];
  if (!Object.hasOwn(node, leaf) && !optional.includes(leaf))
    return unknownKey(path, leaf, [...new Set([...Object.keys(node), ...optional])], section ? `${section}.` : '');
  const old = node[leaf];
  if (typeof old === 'object' && old !== null) return `"${path}" is a section; set one of its keys`;
  node[leaf] = value;
  return undefined;
}

/** Parse CLI-style "key=value" strings into an overrides map. */
export function parseSetArgs(sets: string[]): { overrides: Record<string, string>; errors: FieldError[] } {
  // no prototype, so a key such as "__proto__" is kept as a key (and refused by resolveConfig) rather than lost
  const overrides = Object.create(null) as Record<string, string>;
  const errors: FieldError[] = [];
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) errors.push({ field: 'overrides', message: `expected key=value, got "${s}"` });
    else overrides[s.slice(0, i).trim()] = s.slice(i + 1);
  }
  return { overrides, errors };
}
