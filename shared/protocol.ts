/**
 * Run protocol v1: the experiment process appends one JSON object per line to
 * `events.jsonl`; the app ingests it. This file is the single definition of that
 * format. `npm run schema` exports it as JSON Schema (shared/schema/run-events.v1.json),
 * which the Python emitter's tests validate against.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

export const PHASES = ['warmup', 'sample', 'rationalize', 'train', 'evaluate', 'verify'] as const;
export const phaseSchema = z.enum(PHASES);
export type Phase = z.infer<typeof phaseSchema>;

export const RUN_END_STATUSES = ['completed', 'failed', 'stopped'] as const;

const finite = z.number().finite();
const iteration = z.number().int().min(0);

/** Fields every event carries. */
export const envelopeSchema = z.object({
  v: z.number().int().min(1),
  seq: z.number().int().min(1),
  t: finite,
  type: z.string().min(1),
});
export type Envelope = z.infer<typeof envelopeSchema>;

const base = { v: z.literal(PROTOCOL_VERSION), seq: z.number().int().min(1), t: finite };

export const runStartSchema = z.object({
  ...base,
  type: z.literal('run_start'),
  config: z.record(z.string(), z.unknown()),
  env: z
    .object({
      python: z.string(),
      torch: z.string().nullable(),
      transformers: z.string().nullable(),
      cuda: z.string().nullable(),
      gpus: z.array(z.string()),
      host: z.string(),
      platform: z.string(),
      pid: z.number().int(),
      git_commit: z.string().nullable(),
    })
    .catchall(z.unknown()),
  hashes: z.record(z.string(), z.string()).default({}),
});

export const phaseStartSchema = z.object({
  ...base,
  type: z.literal('phase_start'),
  iteration,
  phase: phaseSchema,
});

export const phaseEndSchema = z.object({
  ...base,
  type: z.literal('phase_end'),
  iteration,
  phase: phaseSchema,
  duration_s: finite.min(0),
});

export const progressSchema = z.object({
  ...base,
  type: z.literal('progress'),
  iteration,
  phase: phaseSchema,
  done: z.number().int().min(0),
  total: z.number().int().min(0),
});

/** A batch of scalar metrics logged at one (iteration, step). */
export const metricsSchema = z.object({
  ...base,
  type: z.literal('metrics'),
  iteration,
  step: z.number().int().min(0),
  values: z.record(z.string().min(1), finite),
});

export const SAMPLE_SPLITS = ['train', 'eval'] as const;
/** direct: sampled with the plain prompt; rationalized: sampled with the gold answer as hint. */
export const SAMPLE_KINDS = ['direct', 'rationalized', 'eval', 'candidate'] as const;

export const sampleSchema = z.object({
  question_id: z.string().min(1),
  split: z.enum(SAMPLE_SPLITS),
  kind: z.enum(SAMPLE_KINDS),
  question: z.string(),
  text: z.string(),
  answer: z.string().nullable(),
  gold: z.string(),
  correct: z.boolean(),
  hint_used: z.boolean(),
  kept: z.boolean().optional(),
  difficulty: z.number().int().nullable().optional(),
  scores: z.record(z.string(), finite).optional(),
});
export type Sample = z.infer<typeof sampleSchema>;

export const samplesSchema = z.object({
  ...base,
  type: z.literal('samples'),
  iteration,
  items: z.array(sampleSchema),
});

export const artifactSchema = z.object({
  ...base,
  type: z.literal('artifact'),
  name: z.string().min(1),
  kind: z.string().min(1),
  /** Relative to the run directory. */
  path: z.string().min(1),
  size: z.number().int().min(0).nullable().optional(),
  iteration: iteration.nullable().optional(),
});

export const heartbeatSchema = z.object({ ...base, type: z.literal('heartbeat') });

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;
export const logSchema = z.object({
  ...base,
  type: z.literal('log'),
  level: z.enum(LOG_LEVELS),
  message: z.string(),
});

export const runEndSchema = z.object({
  ...base,
  type: z.literal('run_end'),
  status: z.enum(RUN_END_STATUSES),
  error: z.string().nullable().optional(),
});

export const runEventSchema = z.discriminatedUnion('type', [
  runStartSchema,
  phaseStartSchema,
  phaseEndSchema,
  progressSchema,
  metricsSchema,
  samplesSchema,
  artifactSchema,
  heartbeatSchema,
  logSchema,
  runEndSchema,
]);
export type RunEvent = z.infer<typeof runEventSchema>;
export type RunEventType = RunEvent['type'];
export const EVENT_TYPES: readonly RunEventType[] = runEventSchema.options.map(
  (o) => o.shape.type.value,
);

export type ParsedLine =
  | { kind: 'event'; event: RunEvent }
  /** A well-formed envelope of a newer version or unknown type: kept, reported, not interpreted. */
  | { kind: 'unknown'; envelope: Envelope; raw: string; reason: string }
  | { kind: 'malformed'; reason: string };

/**
 * Limits on one line. The tailer keeps at most 64 MiB of a line (core/tailer.ts); nesting is
 * bounded because applying an event re-serialises its config with the recursive JSON.stringify,
 * which overflows the stack at a few thousand levels (a real config is under 10 deep).
 */
export const MAX_EVENT_LINE_CHARS = 64 * 1024 * 1024;
export const MAX_EVENT_DEPTH = 64;

/** Deepest nesting of arrays/objects in a JSON text (strings skipped); stops counting past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Parse one line of events.jsonl. Never throws. */
export function parseEventLine(line: string): ParsedLine {
  if (typeof line !== 'string') return { kind: 'malformed', reason: `expected a line of text, got ${typeof line}` };
  if (line.length > MAX_EVENT_LINE_CHARS) {
    return { kind: 'malformed', reason: `line is ${line.length} characters, over the limit of ${MAX_EVENT_LINE_CHARS}` };
  }
  if (jsonDepth(line, MAX_EVENT_DEPTH) > MAX_EVENT_DEPTH) {
    return { kind: 'malformed', reason: `JSON nested deeper than ${MAX_EVENT_DEPTH} levels` };
  }
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    return { kind: 'malformed', reason: `invalid JSON: ${(e as Error).message}` };
  }
  const env = envelopeSchema.safeParse(json);
  if (!env.success) {
    return { kind: 'malformed', reason: `bad envelope: ${formatIssues(env.error)}` };
  }
  if (env.data.v > PROTOCOL_VERSION) {
    return { kind: 'unknown', envelope: env.data, raw: line, reason: `protocol version ${env.data.v} is newer than ${PROTOCOL_VERSION}` };
  }
  if (!(EVENT_TYPES as readonly string[]).includes(env.data.type)) {
    return { kind: 'unknown', envelope: env.data, raw: line, reason: `unknown event type "${env.data.type}"` };
  }
  const ev = runEventSchema.safeParse(json);
  if (!ev.success) {
    return { kind: 'malformed', reason: `bad ${env.data.type} event (seq ${env.data.seq}): ${formatIssues(ev.error)}` };
  }
  return { kind: 'event', event: ev.data };
}

export function formatIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** JSON Schema of one event line, for the Python emitter's tests and third-party writers. */
export function runEventJsonSchema(): unknown {
  return z.toJSONSchema(runEventSchema, { target: 'draft-2020-12', io: 'input' });
}
