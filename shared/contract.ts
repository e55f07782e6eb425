/**
 * The one command/event contract between the UI and the service layer. Both transports
 * (Electron IPC through the preload bridge, HTTP POST + SSE in browser mode) and the
 * preload allow-list are generated from COMMAND_NAMES / EVENT_NAMES and the argument
 * schemas below: a new command is one entry here plus one method on the service.
 */
import { AXIS_KINDS } from './ticks';
import { executorSpecSchema } from './executor-spec';
import { z } from 'zod';
import type { ExperimentConfig, FieldError } from './experiment-config';
import { EXPORT_FORMATS, type ExportFormat } from './export/formats';
import { RESERVED_KEYS, reservedKeyMessage } from './reserved-keys';
import { SCORERS, SCORE_KEYS, type Scorer } from './catalogue';
import {
  RATING_CHOICES,
  SOLVE_SORTS,
  type CandidateQuestion,
  type RankedCandidate,
  type RatingItem,
  type RatingSummaryRow,
  type RatingTaskSummary,
  type SolveMatrix,
  type ThoughtsResult,
  type VerifierStats,
} from './analysis';

export const RUN_STATUSES = ['queued', 'running', 'completed', 'failed', 'stopped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses of a run that is still going: it cannot be deleted (stop it first). */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['queued', 'running'];
/** A runs-table column: a config key or a metric (runColumns), and how many one call answers for. */
export const RUN_COLUMN_PATTERN = /^(config|metric):.{1,300}$/;
export const MAX_RUN_COLUMNS = 40;

export interface MetricPoint {
  iteration: number;
  step: number;
  value: number;
  t: number;
}

/** A cell of the runs table's chosen columns: a config value (objects as JSON) or a metric's final value. */
export type RunColumnValue = string | number | boolean | null;

/** One metric of one run as columns, index i one point, in (step, seq) order: no object per point. */
export interface SeriesColumns {
  iteration: number[];
  step: number[];
  value: number[];
  t: number[];
}

export interface RunSummary {
  id: string;
  /** The name its author gave it (a script's starlab.init(name=…), or edited); null: shared/run-name.ts makes one. */
  name: string | null;
  tags: string[];
  notes: string | null;
  /** Put out of the runs table's way ("Show archived" shows it); nothing of it is removed. */
  archived: boolean;
  groupId: string | null;
  status: RunStatus;
  statusReason: string | null;
  variant: string;
  dataset: string;
  preset: string;
  model: string;
  seed: number;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Latest value of eval/accuracy, if any. */
  latestAccuracy: number | null;
  currentIteration: number | null;
  currentPhase: string | null;
  progressDone: number | null;
  progressTotal: number | null;
  malformedLines: number;
  unknownEvents: number;
  /** Events kept but not applied: after the run's run_end, a run_start of another run, a seq repeated with other content. */
  ignoredEvents: number;
}

export interface PhaseRecord {
  iteration: number;
  phase: string;
  startedAt: number;
  endedAt: number | null;
  durationS: number | null;
}

export interface RunDetail extends RunSummary {
  config: ExperimentConfig | Record<string, unknown>;
  configHash: string;
  env: Record<string, unknown> | null;
  hashes: Record<string, string>;
  runDir: string;
  pid: number | null;
  /** Where its process lives: 'local' (this machine), 'slurm' (a batch job, jobId) or 'script' (a script that registered itself). */
  executor: string;
  jobId: string | null;
  exitCode: number | null;
  signal: string | null;
  stderrTail: string | null;
  lastEventAt: number | null;
  /** Its group's name (an ablation's, a script's project), or null. */
  groupName: string | null;
  /**
   * Each metric's points in (step, seq) order, bounded (RUN_DETAIL_METRIC_LIMITS): at most
   * pointsPerName per name (the first, last, lowest and highest of each bucket kept; fewer
   * when many names share the total budget), at most `names` names (by name; the rest only
   * counted in metricNamesOmitted). Exact values: getMetricPoints (paged) or getSeries.
   */
  metrics: Record<string, MetricPoint[]>;
  /** Some name's points in `metrics` are a subset, or names were left out. */
  metricsDownsampled: boolean;
  /** Points stored per name in `metrics` (its full count, before any downsampling). */
  metricCounts: Record<string, number>;
  /** Names the run has that `metrics` leaves out (0 unless over RUN_DETAIL_METRIC_LIMITS.names). */
  metricNamesOmitted: number;
  phases: PhaseRecord[];
  /** The latest progress reported by the experiment. */
  artifacts: { name: string; kind: string; path: string; size: number | null; iteration: number | null }[];
  /** The iteration a resume would continue after (its checkpoint), or null when there is none. */
  checkpointIteration: number | null;
}

/**
 * What getRun's metrics may hold: about 65 bytes of JSON a point, so a run's detail stays
 * under ~7 MB whatever it logged. No real run has 2,000 names (V-STaR at 64 candidates: ~400).
 */
export const RUN_DETAIL_METRIC_LIMITS = { pointsPerName: 2_000, names: 2_000, totalPoints: 100_000 } as const;
/** Largest page of getMetricPoints. */
export const METRIC_POINTS_PAGE_MAX = 10_000;

/** A page of one metric's exact points, in (step, seq) order. */
export interface MetricPointsPage {
  name: string;
  /** Points the run has for this name. */
  total: number;
  points: MetricPoint[];
  /** Pass as `after` for the next page; null: this was the last. */
  next: { step: number; seq: number } | null;
}

export interface LogLine {
  id: number;
  t: number;
  source: 'event' | 'stdout' | 'stderr' | 'supervisor';
  level: string;
  message: string;
}

export interface SampleRow {
  id: number;
  iteration: number;
  questionId: string;
  split: string;
  kind: string;
  question: string;
  text: string;
  answer: string | null;
  gold: string;
  correct: boolean;
  hintUsed: boolean;
  kept: boolean | null;
  difficulty: number | null;
  /** Numeric scores of the sample (V-STaR candidates: logp, logp_norm, reward, ref_logp, orm, gen_logp, gen_logp_norm). */
  scores: Record<string, number> | null;
}

export interface Catalog {
  variants: { id: string; label: string }[];
  datasets: { id: string; label: string }[];
  presets: string[];
  /** defaults[variant][dataset][preset] = the resolved preset config */
  defaults: Record<string, Record<string, Record<string, Record<string, unknown>>>>;
}

export interface Settings {
  pythonPath: string;
  dataDir: string;
  stopGraceMs: number;
  /** The queue: at most this many runs at once (0: no limit); GPU slots, one per queued run started. */
  maxConcurrent: number;
  gpuSlots: string[];
}

/**
 * setPythonPath: saved only if the interpreter is an absolute path to an executable file that
 * passes the Python preflight; else nothing is saved and errors[0] (field "pythonPath") says why.
 */
export type SetPythonPathResult = { ok: true; settings: Settings } | { ok: false; errors: FieldError[] };

export interface GroupSummary {
  id: string;
  name: string;
  createdAt: number;
  /** The ablation spec the group was expanded from. */
  spec: Record<string, unknown> | null;
  counts: Partial<Record<RunStatus, number>>;
  total: number;
}

/** An ablation expanded and validated, before anything is queued. */
export type AblationPlan =
  | {
      ok: true;
      runs: { label: string; variant: string; dataset: string; seed: number }[];
      estimatedSeconds: number | null;
      /** How many of the planned runs have completed runs of their variant, dataset and preset to go on (the rest are assumed as long). */
      estimatedFrom: number;
    }
  | { ok: false; errors: FieldError[] };
export type AblationResult = { ok: true; id: string; runs: string[] } | { ok: false; errors: FieldError[] };

export interface GroupDetail extends GroupSummary {
  runs: RunSummary[];
}

/** Where runs would find a dataset's files (null: nowhere local; the run would try the hub). */
export interface DatasetStatus {
  id: string;
  label: string;
  dir: string | null;
  searched: string[];
}

/** Importing a user's dataset files into <data dir>/datasets/<dataset>/, where runs find them. */
export type ImportResult = { ok: true; message: string; dir: string; rows: Record<string, number> } | { ok: false; message: string };

/** warnings: the config is valid but something will likely go wrong (e.g. no local copy of the dataset). */
export type LaunchResult = { ok: true; id: string; warnings?: FieldError[] } | { ok: false; errors: FieldError[] };
export type ValidateResult = { ok: true; config: ExperimentConfig; warnings?: FieldError[] } | { ok: false; errors: FieldError[] };

export { EXPORT_FORMATS, type ExportFormat };

/** One exported file, its bytes base64-encoded (the transports carry JSON). */
export interface ExportFile {
  name: string;
  mime: string;
  base64: string;
}
/** Rationale trace filters over a question's outcomes across iterations (db/traces.ts defines them). */
export const TRACE_FILTERS = ['newly-solved', 'forgotten', 'never-solved', 'rationalized-only'] as const;
export type TraceFilter = (typeof TRACE_FILTERS)[number];

export interface TraceQuery {
  filter?: TraceFilter;
  iteration?: number;
  split?: 'train' | 'eval';
  difficulty?: number;
  /** Case-insensitive substring of the question or the rationale. */
  search?: string;
  /** One question only (compare it across iterations or runs). */
  questionId?: string;
  limit?: number;
  offset?: number;
}

/** One sample of a question at an iteration: its rationale, answer, gold, outcome and whether the hint was given. */
export interface TraceRow {
  id: number;
  questionId: string;
  split: string;
  iteration: number;
  kind: string;
  question: string;
  /** The rationale (samples.text, as SampleRow.text). */
  text: string;
  answer: string | null;
  gold: string;
  correct: boolean;
  /** Sampled with the gold answer as a hint (samples.hint_used, as SampleRow.hintUsed). */
  hintUsed: boolean;
  kept: boolean | null;
  difficulty: number | null;
}

/** V-STaR's test-time curves recounted from a run's stored candidates (shared/estimators). */
export const CURVE_KINDS = ['best-of-k', 'majority', 'pass-at-k'] as const;
/** Best-of-k scorers → the stored candidate score each ranks by (experiments/starlab/catalogue.json's scorers): the DPO
 * verifier's reward, the ORM's logit, the trained verifier's mean log-likelihood (logp), and the control, the
 * generator's own mean log-likelihood of its sample (likelihood; runs before it lack the score). */
export const CURVE_SCORERS: Readonly<Record<Scorer, string>> = SCORE_KEYS;
export type CurveResult =
  | {
      ok: true;
      kind: (typeof CURVE_KINDS)[number];
      scorer: Scorer | null;
      iteration: number;
      questions: number;
      candidates: number;
      points: { k: number; value: number }[];
    }
  | { ok: false; message: string };

/** The result of the database's integrity check (PRAGMA quick_check + foreign_key_check). */
export interface DatabaseHealth {
  file: string;
  /** unchecked: not checked by this process (a one-shot CLI command on a large file). */
  state: 'ok' | 'checking' | 'damaged' | 'unchecked';
  problems: string[];
  /** What to do, when damaged; why not, when unchecked. */
  message: string | null;
  checkedAt: number | null;
  seconds: number | null;
}

/** A file the app wrote into the data directory (a backup or a run bundle). */
export interface DataFile {
  file: string;
  bytes: number;
  /** Unix seconds (the file's modification time). */
  modifiedAt: number;
}

/** The data directory at a glance: the database, its health, backups and exported bundles. */
export interface DataInfo {
  dataDir: string;
  database: DataFile & { walBytes: number };
  health: DatabaseHealth;
  /** <data dir>/backups, newest first. */
  backups: DataFile[];
  /** <data dir>/exports, newest first. */
  bundles: DataFile[];
  /** Run directories under <data dir>/runs the database does not know (Reindex puts them back); at most 100 listed. */
  unindexedRuns: { total: number; ids: string[] };
}

/** What Reindex put back from the run directories (core/reindex.ts). */
export interface ReindexResult {
  ok: true;
  /** Runs put back, in the order found. */
  added: string[];
  /** Of those, the ones whose process is still alive (watched again). */
  running: string[];
  groupsAdded: string[];
  skipped: { id: string; reason: string }[];
  /** Events ingested for the added runs. */
  events: number;
  seconds: number;
}

/** The interpreter check run before every launch (version, torch, transformers, peft). */
export type PythonCheckResult =
  | { ok: true; python: string; executable: string; version: string; modules: Record<string, string> }
  | { ok: false; python: string; message: string };

/** What ingest could not interpret for a run: malformed lines and events of an unknown type or newer version. */
export interface EventIssues {
  malformedTotal: number;
  malformed: { lineNo: number; reason: string; text: string }[];
  unknownTotal: number;
  /** Counts per (type, protocol version) over every kept event. */
  unknownKinds: { type: string; version: number | null; count: number }[];
  unknown: { seq: number; type: string; t: number; version: number | null; raw: string }[];
  /** Kept but not applied, each with the reason: events after run_end, a foreign run_start (seq set), lines repeating a seq with other content (lineNo set). */
  ignoredTotal: number;
  ignored: { seq: number | null; lineNo: number | null; type: string | null; reason: string; raw: string }[];
}

export type ExportResult = { ok: true; files: ExportFile[]; skipped?: { id: string; reason: string }[] } | { ok: false; message: string };

// ---- argument schemas (validated in every transport before the service sees them) ----

/** What a run id the API accepts looks like (a run directory's name; new ids are yyyymmdd-hhmmss-xxxx). */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const runId = z.string().regex(RUN_ID_PATTERN, 'invalid run id');

/** A tag: 1–40 characters, no comma (the CLI and the forms take comma-separated lists) or line break. */
export const runTag = z
  .string()
  .trim()
  .min(1, 'a tag is not empty')
  .max(40, 'a tag has at most 40 characters')
  .regex(/^[^,\r\n]+$/, 'a tag has no comma or line break');
/** What editRun may change: a name (null: back to the one made from variant, dataset and seed), the tags, the notes. */
export const runLabelsPatch = z
  .object({
    name: z.string().trim().min(1, 'a name is not empty (null gives the run its default name back)').max(200).nullable().optional(),
    tags: z.array(runTag).max(50).optional(),
    notes: z.string().max(20_000).nullable().optional(),
  })
  .strict();
export type RunLabelsPatch = z.infer<typeof runLabelsPatch>;

/**
 * A record whose keys the user names (config paths). zod's record skips an own "__proto__"
 * key of its input before the key schema sees it (zod 4's $ZodRecord), so an override
 * `{"__proto__": "1"}` would arrive as `{}` and launch the default config: the raw input is
 * checked first, and each reserved key refused with its path (overrides.__proto__).
 */
function userKeyed<V extends z.ZodType>(value: V) {
  return z.preprocess(
    (input, ctx) => {
      if (typeof input === 'object' && input !== null && !Array.isArray(input))
        for (const k of RESERVED_KEYS)
          if (Object.hasOwn(input, k)) ctx.addIssue({ code: 'custom', path: [k], input, message: reservedKeyMessage(k) });
      return input;
    },
    z.record(z.string().max(200), value),
  );
}
const ratingSource = z.object({ runId, iteration: z.number().int().min(0).nullable() }).strict();
export const launchSpecSchema = z
  .object({
    variant: z.string().max(64),
    dataset: z.string().max(64),
    preset: z.string().max(64),
    seed: z.number().int().optional(),
    overrides: userKeyed(z.string().max(10000)).optional(),
    /** Where it runs: this machine (default) or a Slurm job with these resources. */
    executor: executorSpecSchema.optional(),
  })
  .strict();

const listOf = (max: number) => z.array(z.string().min(1).max(64)).min(1).max(max);
export const ablationSpecSchema = z
  .object({
    name: z.string().max(200).optional(),
    variants: listOf(16),
    datasets: listOf(16),
    seeds: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1),
      )
      .min(1)
      .max(1000),
    preset: z.string().max(64),
    overrides: userKeyed(z.string().max(10000)).optional(),
    grid: userKeyed(z.array(z.string().max(10000)).max(100)).optional(),
    /** Where its runs run: this machine (default) or Slurm jobs with these resources. */
    executor: executorSpecSchema.optional(),
  })
  .strict();

export const exportOptionsSchema = z
  .object({
    formats: z.array(z.enum(EXPORT_FORMATS)).min(1).max(EXPORT_FORMATS.length),
    preset: z.enum(['single-column', 'double-column']).optional(),
    fontFamily: z.enum(['serif', 'sans-serif']).optional(),
    fontPt: z.number().min(5).max(14).optional(),
  })
  .strict();
export type ExportOptions = z.infer<typeof exportOptionsSchema>;

const fnum = z.number().finite();
/** The longest title or label a figure carries. */
export const LABEL_MAX = 300;
const label = z.string().max(LABEL_MAX);
/** A group export's options: the figures' texts may be edited (`title`: `{dataset}` is each figure's dataset). */
export const groupExportOptionsSchema = exportOptionsSchema
  .extend({ labels: z.object({ title: label.optional(), xLabel: label.optional(), yLabel: label.optional() }).strict().optional() })
  .strict();
export type GroupExportOptions = z.infer<typeof groupExportOptionsSchema>;
/** A figure as the compare view draws it (shared/export/model Figure), bounded in size. */
export const figureSchema = z
  .object({
    title: label,
    xLabel: label,
    xKind: z.enum(AXIS_KINDS).optional(),
    xDomain: z.tuple([fnum, fnum]).optional(),
    yLabel: label,
    yLog: z.boolean().optional(),
    yBounds: z.tuple([fnum, fnum]).optional(),
    yDomain: z.tuple([fnum, fnum]).optional(),
    series: z
      .array(
        z
          .object({
            key: label,
            label,
            variant: z.string().max(200).optional(),
            style: z
              .object({
                color: z.string().regex(/^#[0-9A-Fa-f]{6}$/),
                colorName: z.string().regex(/^[A-Za-z]{1,40}$/),
                dash: z.enum(['solid', 'dashed', 'dotted', 'dashdotted', 'densely dashed', 'densely dotted']),
              })
              .strict()
              .optional(),
            points: z.array(z.object({ x: fnum, mean: fnum, lo: fnum.optional(), hi: fnum.optional() }).strict()).max(5000),
            runs: z
              .array(z.object({ id: z.string().max(200), points: z.array(z.object({ x: fnum, y: fnum }).strict()).max(5000) }).strict())
              .max(500)
              .optional(),
          })
          .strict(),
      )
      .min(1)
      .max(100),
  })
  .strict();

export const commandArgs = {
  listRuns: z.tuple([]),
  getRun: z.tuple([runId]),
  getMetricPoints: z.tuple([
    runId,
    z
      .object({
        name: z.string().min(1).max(10_000),
        /** The `next` of the previous page. */
        after: z.object({ step: z.number().int(), seq: z.number().int() }).strict().optional(),
        limit: z.number().int().min(1).max(METRIC_POINTS_PAGE_MAX).optional(),
      })
      .strict(),
  ]),
  getLogs: z.tuple([
    runId,
    z.object({ afterId: z.number().int().min(0).optional(), limit: z.number().int().min(1).max(5000).optional() }).strict(),
  ]),
  getSamples: z.tuple([
    runId,
    z
      .object({
        iteration: z.number().int().min(0).optional(),
        kind: z.enum(['direct', 'rationalized', 'eval', 'candidate']).optional(),
        limit: z.number().int().min(1).max(1000).optional(),
        offset: z.number().int().min(0).optional(),
      })
      .strict(),
  ]),
  catalog: z.tuple([]),
  validateLaunch: z.tuple([launchSpecSchema]),
  launchRun: z.tuple([launchSpecSchema]),
  stopRun: z.tuple([runId]),
  resumeRun: z.tuple([runId]),
  listDatasets: z.tuple([]),
  planAblation: z.tuple([ablationSpecSchema]),
  createAblation: z.tuple([ablationSpecSchema]),
  listGroups: z.tuple([]),
  getSeries: z.tuple([z.array(runId).min(1).max(500), z.array(z.string().min(1).max(200)).min(1).max(50)]),
  getSeriesColumns: z.tuple([z.array(runId).min(1).max(500), z.array(z.string().min(1).max(200)).min(1).max(50)]),
  metricNames: z.tuple([z.array(runId).min(1).max(500)]),
  getRunConfigs: z.tuple([z.array(runId).min(1).max(500)]),
  getGroup: z.tuple([runId]),
  cancelRun: z.tuple([runId]),
  retryRun: z.tuple([runId]),
  editRun: z.tuple([runId, runLabelsPatch]),
  tagRuns: z.tuple([
    z.array(runId).min(1).max(10_000),
    z.object({ add: z.array(runTag).max(50), remove: z.array(runTag).max(50) }).strict(),
  ]),
  archiveRuns: z.tuple([z.array(runId).min(1).max(10_000), z.boolean()]),
  runColumnChoices: z.tuple([]),
  runColumns: z.tuple([z.array(z.string().regex(RUN_COLUMN_PATTERN, 'a column is config:KEY or metric:NAME')).max(MAX_RUN_COLUMNS)]),
  deleteRuns: z.tuple([z.array(runId).min(1).max(10_000)]),
  stopGroup: z.tuple([runId]),
  setQueueSettings: z.tuple([
    z
      .object({
        maxConcurrent: z.number().int().min(0).max(1024),
        gpuSlots: z.array(z.string().regex(/^[0-9A-Za-z,:-]{1,64}$/, 'a CUDA_VISIBLE_DEVICES value')).max(64),
      })
      .strict(),
  ]),
  importDataset: z.tuple([
    z
      .object({ dataset: z.enum(['gsm8k', 'commonsenseqa']), train: z.string().min(1).max(4096), eval: z.string().min(1).max(4096) })
      .strict(),
  ]),
  getSettings: z.tuple([]),
  setPythonPath: z.tuple([z.string().min(1).max(4096)]),
  exportGroup: z.tuple([runId, groupExportOptionsSchema]),
  getTraces: z.tuple([
    runId,
    z
      .object({
        filter: z.enum(TRACE_FILTERS).optional(),
        iteration: z.number().int().min(0).optional(),
        split: z.enum(['train', 'eval']).optional(),
        difficulty: z.number().int().optional(),
        search: z.string().max(500).optional(),
        questionId: z.string().min(1).max(200).optional(),
        limit: z.number().int().min(1).max(5000).optional(),
        offset: z.number().int().min(0).optional(),
      })
      .strict(),
  ]),
  getSolveMatrix: z.tuple([
    runId,
    z
      .object({
        split: z.enum(['train', 'eval']).optional(),
        filter: z.enum(TRACE_FILTERS).optional(),
        difficulty: z.number().int().optional(),
        search: z.string().max(500).optional(),
        sort: z.enum(SOLVE_SORTS).optional(),
        descending: z.boolean().optional(),
        limit: z.number().int().min(1).max(5000).optional(),
        offset: z.number().int().min(0).optional(),
      })
      .strict(),
  ]),
  createRatingTask: z.tuple([
    z
      .object({
        name: z.string().trim().min(1).max(200),
        rater: z.string().trim().min(1).max(100),
        a: ratingSource,
        b: ratingSource,
        split: z.enum(['train', 'eval']),
        /** Only questions both sources answered correctly (judge reasoning, not answers). */
        onlyCorrect: z.boolean(),
        limit: z.number().int().min(1).max(2000),
        seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .optional(),
      })
      .strict(),
  ]),
  listRatingTasks: z.tuple([]),
  getRatingItem: z.tuple([
    z.number().int().min(1),
    /** A position; omitted: the first pair not rated yet (or the last one when all are). */
    z.number().int().min(0).optional(),
  ]),
  rateItem: z.tuple([
    z
      .object({
        taskId: z.number().int().min(1),
        position: z.number().int().min(0),
        rater: z.string().trim().min(1).max(100),
        choice: z.enum(RATING_CHOICES),
        flagLeft: z.boolean(),
        flagRight: z.boolean(),
      })
      .strict(),
  ]),
  ratingSummary: z.tuple([z.number().int().min(1).optional()]),
  exportRatings: z.tuple([z.number().int().min(1).optional()]),
  getVerifierStats: z.tuple([
    runId,
    z
      .object({
        iteration: z.number().int().min(0).optional(),
        scorer: z.enum(SCORERS),
        bins: z.number().int().min(2).max(200).optional(),
      })
      .strict(),
  ]),
  getCandidateQuestions: z.tuple([
    runId,
    z
      .object({
        iteration: z.number().int().min(0).optional(),
        search: z.string().max(500).optional(),
        limit: z.number().int().min(1).max(1000).optional(),
        offset: z.number().int().min(0).optional(),
      })
      .strict(),
  ]),
  getCandidates: z.tuple([
    runId,
    z
      .object({
        iteration: z.number().int().min(0).optional(),
        questionId: z.string().min(1).max(200),
        scorer: z.enum(SCORERS),
      })
      .strict(),
  ]),
  getDatabaseHealth: z.tuple([]),
  getDataInfo: z.tuple([]),
  /** Check an interpreter: the one typed in (not saved yet), else the saved one new runs use. */
  checkPython: z.tuple([z.string().min(1).max(4096).optional()]),
  backupNow: z.tuple([]),
  exportRunBundle: z.tuple([z.array(runId).min(1).max(1000), z.object({ checkpoints: z.boolean().optional() }).strict()]),
  importRunBundle: z.tuple([z.string().min(1).max(4096)]),
  reindexRuns: z.tuple([]),
  getEventIssues: z.tuple([runId, z.number().int().min(1).max(1000).optional()]),
  getThoughts: z.tuple([
    runId,
    z
      .object({
        source: z.enum(['eval', 'train']),
        iteration: z.number().int().min(0).optional(),
        limit: z.number().int().min(1).max(500).optional(),
      })
      .strict(),
  ]),
  getCurve: z.tuple([
    runId,
    z
      .object({
        kind: z.enum(CURVE_KINDS),
        iteration: z.number().int().min(0).optional(),
        scorer: z.enum(SCORERS).optional(),
      })
      .strict(),
  ]),
  exportFigure: z.tuple([figureSchema, exportOptionsSchema.extend({ name: z.string().min(1).max(120) })]),
} as const;

export type CommandName = keyof typeof commandArgs;
export const COMMAND_NAMES = Object.keys(commandArgs) as CommandName[];

/** What each command returns. */
export interface CommandResults {
  listRuns: RunSummary[];
  getRun: RunDetail | null;
  /** One metric's exact points, a page at a time (default and most: METRIC_POINTS_PAGE_MAX); null: no such run. */
  getMetricPoints: MetricPointsPage | null;
  getLogs: LogLine[];
  getSamples: SampleRow[];
  catalog: Catalog;
  validateLaunch: ValidateResult;
  launchRun: LaunchResult;
  stopRun: { ok: boolean; message: string };
  resumeRun: { ok: boolean; message: string };
  listDatasets: DatasetStatus[];
  planAblation: AblationPlan;
  createAblation: AblationResult;
  listGroups: GroupSummary[];
  /** {runId: {metric: points}} for the named metrics only. */
  getSeries: Record<string, Record<string, MetricPoint[]>>;
  /** getSeries as columns (the compare view's: no object per point). */
  getSeriesColumns: Record<string, Record<string, SeriesColumns>>;
  metricNames: { name: string; runs: number }[];
  /** {runId: config} of the runs that exist (the compare view's config diff and legend). */
  getRunConfigs: Record<string, Record<string, unknown>>;
  getGroup: GroupDetail | null;
  cancelRun: { ok: boolean; message: string };
  retryRun: { ok: boolean; message: string; id?: string };
  editRun: { ok: boolean; message: string };
  /** changed: the runs whose tags changed. */
  tagRuns: { ok: boolean; message: string; changed: number };
  /** What the runs table can show as columns: every config key (dotted) and metric name of the runs. */
  runColumnChoices: { config: string[]; metrics: string[] };
  /** The chosen columns' values for every run: a config value, or a metric's last logged value. */
  runColumns: Record<string, Record<string, RunColumnValue>>;
  /** changed: the runs whose archived state changed. */
  archiveRuns: { ok: boolean; message: string; changed: number };
  /** deleted: the runs whose rows are gone (their directories moved to <data>/trash). */
  deleteRuns: { ok: boolean; message: string; deleted: string[] };
  stopGroup: { ok: boolean; message: string };
  setQueueSettings: Settings;
  importDataset: ImportResult;
  getSettings: Settings;
  setPythonPath: SetPythonPathResult;
  /** A group's figure set (a figure per dataset + table.tex), in the asked formats. */
  exportGroup: ExportResult;
  /** One figure (the compare view's) in the asked formats, files named after `name`. */
  exportFigure: ExportResult;
  /** A run's rationale traces matching a filter, a page of them and the total. */
  getTraces: { total: number; totalCapped?: boolean; rows: TraceRow[] };
  /** pass@k / majority@k / Best-of-k for k = 1..N at an iteration (default: the last with candidates). */
  getCurve: CurveResult;
  /** Questions × iterations, one outcome per cell, a page of rows in the asked order. */
  getSolveMatrix: SolveMatrix;
  /** A blind rating task: pairs of rationales for the same question, in a fixed random order. */
  createRatingTask: { ok: true; id: number; items: number } | { ok: false; message: string };
  listRatingTasks: RatingTaskSummary[];
  getRatingItem: RatingItem | null;
  rateItem: { ok: true; rated: number } | { ok: false; message: string };
  /** Per pair of sources over every task (or one): wins, win rate with its 95% CI, flagged shares. */
  ratingSummary: RatingSummaryRow[];
  /** Every rating (or one task's), unblinded, as one CSV file. */
  exportRatings: ExportResult;
  /** V-STaR: a scorer's distribution over right vs wrong candidates, and its pair accuracy per iteration. */
  getVerifierStats: VerifierStats | { ok: false; message: string };
  getCandidateQuestions: { ok: true; iteration: number; total: number; rows: CandidateQuestion[] } | { ok: false; message: string };
  /** One question's candidates ranked by a scorer (highest first). */
  getCandidates:
    | { ok: true; iteration: number; questionId: string; question: string; gold: string; candidates: RankedCandidate[] }
    | { ok: false; message: string };
  /** Quiet-STaR's sampled thoughts (evaluation: per question; training: with rewards). */
  getThoughts: ThoughtsResult;
  /** The first malformed lines and uninterpreted events of a run (up to the limit, default 100). */
  getEventIssues: EventIssues | { ok: false; message: string };
  /** The integrity check of the database: done on open (small files) or in the background. */
  getDatabaseHealth: DatabaseHealth;
  getDataInfo: DataInfo;
  /** Check the interpreter new runs use (cached per interpreter file; failures re-checked). */
  checkPython: PythonCheckResult;
  /** Back the database up into <data dir>/backups (online, checked). */
  backupNow: { ok: true; file: string; bytes: number; seconds: number } | { ok: false; message: string };
  /** Export runs as one bundle into <data dir>/exports. */
  exportRunBundle:
    { ok: true; file: string; runs: number; files: number; bytes: number; warnings: string[] } | { ok: false; message: string };
  /** Import a bundle file (a path on the machine the service runs on); runs already present are skipped. */
  importRunBundle:
    | { ok: true; file: string; imported: string[]; skipped: { id: string; reason: string }[]; rows: number; files: number; bytes: number }
    | { ok: false; message: string };
  /** Put back every run directory the database does not know, through the normal ingest. */
  reindexRuns: ReindexResult | { ok: false; message: string };
}

export type CommandArgs<C extends CommandName> = z.infer<(typeof commandArgs)[C]>;

/** The service layer implements exactly this. */
export type Commands = {
  [C in CommandName]: (...args: CommandArgs<C>) => CommandResults[C] | Promise<CommandResults[C]>;
};

/** Server → UI push events. */
export interface EventPayloads {
  /** Runs whose rows, metrics or logs changed since the last notice. */
  runsChanged: { ids: string[] };
  /** The integrity check finished (or found damage). */
  databaseHealth: DatabaseHealth;
}
export type EventName = keyof EventPayloads;
export const EVENT_NAMES: EventName[] = ['runsChanged', 'databaseHealth'];

/** The shape both transports present to the renderer (window.starlab in Electron). */
export interface Transport {
  kind: 'electron-ipc' | 'http';
  invoke<C extends CommandName>(cmd: C, ...args: CommandArgs<C>): Promise<CommandResults[C]>;
  on<E extends EventName>(event: E, cb: (payload: EventPayloads[E]) => void): () => void;
}

/** IPC channel names, shared by main and preload. */
export const ipcChannel = {
  command: (c: CommandName) => `starlab:cmd:${c}`,
  event: (e: EventName) => `starlab:evt:${e}`,
};

/** Validate a command's arguments; returns an error message or the parsed args. */
export function parseCommandArgs<C extends CommandName>(
  cmd: C,
  args: unknown,
): { ok: true; args: CommandArgs<C> } | { ok: false; error: string } {
  const schema = commandArgs[cmd];
  if (!schema) return { ok: false, error: `unknown command "${String(cmd)}"` };
  const r = schema.safeParse(args);
  if (!r.success) {
    return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ') };
  }
  return { ok: true, args: r.data as CommandArgs<C> };
}
