/**
 * Run protocol v1: the experiment process appends one JSON object per line to
 * `events.jsonl`; the app ingests it. This file is the single definition of that
 * format. `npm run schema` exports it as JSON Schema (shared/schema/run-events.v1.json),
 * which the Python emitter's tests validate against.
 */
import { z } from 'zod';
import limitsJson from '../experiments/starlab/limits.json';
import { PHASES } from './catalogue';

export const PROTOCOL_VERSION = 1;

/**
 * Limits on one line of events.jsonl, from experiments/starlab/limits.json (the Python emitter
 * reads the same file and refuses to write what ingest would refuse). A line over one of them
 * is refused as malformed with the reason: what one line may cost the app stays bounded.
 */
export const EVENT_LIMITS = {
  /** Bytes of one line (UTF-8, without its newline); the tailer skips a longer line without holding it. */
  maxLineBytes: limitsJson.max_line_bytes,
  /** Object members in one event, all levels together (counted before parsing). */
  maxMembers: limitsJson.max_members,
  /** Names in one metrics event's `values`. */
  maxMetricNames: limitsJson.max_metric_names,
  /** Nesting of objects and arrays. */
  maxDepth: limitsJson.max_depth,
} as const;
export const MAX_EVENT_LINE_BYTES = EVENT_LIMITS.maxLineBytes;

/** The phases of an iteration, in the order they run (experiments/starlab/catalogue.json). */
export { PHASES };
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
  values: z
    .record(z.string().min(1), finite)
    .superRefine((v, ctx) => {
      const n = Object.keys(v).length;
      if (n > EVENT_LIMITS.maxMetricNames)
        ctx.addIssue({ code: 'custom', message: `${fmtInt(n)} metric names, over the limit of ${fmtInt(EVENT_LIMITS.maxMetricNames)}` });
    })
    .meta({ maxProperties: EVENT_LIMITS.maxMetricNames }),
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

/**
 * A resumed process has loaded its checkpoint of `iteration` and continues after it. Only
 * then does ingest drop what the run stored for later iterations (a partial iteration, which
 * is redone): a resume that fails before this event leaves every row as it was.
 */
export const resumedSchema = z.object({
  ...base,
  type: z.literal('resumed'),
  iteration,
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
  resumedSchema,
  runEndSchema,
]);
export type RunEvent = z.infer<typeof runEventSchema>;
export type RunEventType = RunEvent['type'];
export const EVENT_TYPES: readonly RunEventType[] = runEventSchema.options.map((o) => o.shape.type.value);

export type ParsedLine =
  | { kind: 'event'; event: RunEvent }
  /** A well-formed envelope of a newer version or unknown type: kept, reported, not interpreted. */
  | { kind: 'unknown'; envelope: Envelope; raw: string; reason: string }
  | { kind: 'malformed'; reason: string };

/**
 * Nesting is bounded (EVENT_LIMITS.maxDepth) because applying an event re-serialises its config
 * with the recursive JSON.stringify, which overflows the stack at a few thousand levels (a real
 * config is under 10 deep); members and bytes because parsing, validating and storing an
 * event costs time and memory in proportion (a 42 MB line of 1.8 million metric names held
 * the server for 20 s).
 */
export const MAX_EVENT_DEPTH = EVENT_LIMITS.maxDepth;

/** 16,777,216: integers in reasons, with thousands separators. */
export function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The reason a line over EVENT_LIMITS.maxLineBytes is refused (the tailer gives it for a line it skipped). */
export function lineTooLongReason(bytes: number): string {
  return `line is ${fmtInt(bytes)} bytes, over the limit of ${fmtInt(EVENT_LIMITS.maxLineBytes)}`;
}

/** UTF-8 length of a string (Node's native count where there is one: ~2 ms for 16 MB). */
export function utf8Length(text: string): number {
  const B = (globalThis as { Buffer?: { byteLength(s: string, enc: 'utf8'): number } }).Buffer;
  return B ? B.byteLength(text, 'utf8') : new TextEncoder().encode(text).length;
}

export interface JsonShape {
  /** Deepest nesting of arrays/objects. */
  depth: number;
  /** Object members at every level: one per ':' outside strings (in valid JSON, exactly the keys). */
  members: number;
}

/**
 * The nesting depth and member count of a JSON text in one pass, without parsing (strings
 * skipped); stops early once the depth passes `depthLimit`. Cheaper than JSON.parse (strings
 * are skipped with indexOf; about 4 ns a character of structure), so it runs before it on
 * every line.
 */
export function jsonShape(text: string, depthLimit = Infinity): JsonShape {
  let depth = 0;
  let max = 0;
  let members = 0;
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: jump to its closing quote (one not escaped by an odd run of backslashes)
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return { depth: max, members };
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x3a) members++;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > depthLimit) return { depth: max, members };
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { depth: max, members };
}

/** Deepest nesting of arrays/objects in a JSON text (strings skipped); stops counting past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  return jsonShape(text, limit).depth;
}

/** Whether the text holds at most `limit` of `{` and `[` together (in strings too): its depth cannot pass it. */
function opensAtMost(text: string, limit: number): boolean {
  let n = 0;
  for (const ch of ['{', '[']) for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) if (++n > limit) return false;
  return true;
}

/** Parse one line of events.jsonl. Never throws. */
export function parseEventLine(line: string): ParsedLine {
  if (typeof line !== 'string') return { kind: 'malformed', reason: `expected a line of text, got ${typeof line}` };
  // UTF-8 takes at least a byte per UTF-16 unit and at most 3: count only where it could matter
  if (line.length > EVENT_LIMITS.maxLineBytes / 3) {
    const bytes = line.length > EVENT_LIMITS.maxLineBytes ? line.length : utf8Length(line);
    if (bytes > EVENT_LIMITS.maxLineBytes) return { kind: 'malformed', reason: lineTooLongReason(bytes) };
  }
  // The shape can only break a limit where the line is that long or opens that many brackets
  // (two native scans on the usual line, instead of a walk over every character).
  if (line.length > EVENT_LIMITS.maxMembers || !opensAtMost(line, MAX_EVENT_DEPTH)) {
    const shape = jsonShape(line, MAX_EVENT_DEPTH);
    if (shape.depth > MAX_EVENT_DEPTH) {
      return { kind: 'malformed', reason: `JSON nested deeper than ${MAX_EVENT_DEPTH} levels` };
    }
    if (shape.members > EVENT_LIMITS.maxMembers) {
      return { kind: 'malformed', reason: `event has ${fmtInt(shape.members)} keys, over the limit of ${fmtInt(EVENT_LIMITS.maxMembers)}` };
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    return { kind: 'malformed', reason: `invalid JSON: ${(e as Error).message}` };
  }
  const fast = fastMetricsEvent(json);
  if (fast) return { kind: 'event', event: fast };
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

const isInt = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;

/**
 * A metrics event of this version checked without zod, or null to let runEventSchema decide
 * (and word the reason): most lines of a long run are metrics, and zod cost about a sixth of
 * ingest (issue 17's profile). Accepts exactly what metricsSchema accepts, and like it returns
 * only the schema's fields; tests/unit/protocol-fast-path.test.ts holds the two equal.
 */
export function fastMetricsEvent(json: unknown): Extract<RunEvent, { type: 'metrics' }> | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const o = json as Record<string, unknown>;
  if (o['type'] !== 'metrics' || o['v'] !== PROTOCOL_VERSION || !isInt(o['seq'], 1) || !Number.isFinite(o['t'])) return null;
  if (!isInt(o['iteration'], 0) || !isInt(o['step'], 0)) return null;
  const values = o['values'];
  if (typeof values !== 'object' || values === null || Array.isArray(values)) return null;
  let n = 0;
  for (const k in values) {
    if (!Object.hasOwn(values, k)) continue;
    // a "__proto__" name: left to zod, which drops it (its output assigns keys)
    if (k === '' || k === '__proto__' || !Number.isFinite((values as Record<string, unknown>)[k]) || ++n > EVENT_LIMITS.maxMetricNames)
      return null;
  }
  return {
    v: PROTOCOL_VERSION,
    seq: o['seq'],
    t: o['t'] as number,
    type: 'metrics',
    iteration: o['iteration'],
    step: o['step'],
    values: values as Record<string, number>,
  };
}

export function formatIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** JSON Schema of one event line, for the Python emitter's tests and third-party writers. */
export function runEventJsonSchema(): unknown {
  const schema = z.toJSONSchema(runEventSchema, { target: 'draft-2020-12', io: 'input' });
  // the per-line limits JSON Schema cannot state (bytes, members over all levels), for other writers
  return { ...schema, 'x-starlab-limits': Object.fromEntries(Object.entries(limitsJson).filter(([k]) => !k.startsWith('_'))) };
}
