/**
 * Blind rationale rating, as in the STaR paper's human evaluation: pairs of rationales for the
 * same question from two sources, shown in a fixed random order with a random left/right side,
 * judged "which is better" (or both / neither) with a flag for "right answer, flawed reasoning".
 *
 * A source is a run at an iteration, or (iteration null) each question's latest iteration with
 * a sample in that run. Training rationales are the direct/rationalized samples, held-out ones
 * the eval samples; V-STaR candidates never. Where a question has several samples at the
 * iteration, the pick is: correct without the hint, then correct through the hint, then the
 * lowest id (deterministic, and the best rationale the source produced). The pick uses ids and
 * flags only; texts are read one question at a time in the task's seeded order, until `limit`
 * pairs are kept.
 *
 * Schema and why texts are copied: migrations/005-ratings.ts.
 */
import { randomInt } from 'node:crypto';
import type { DB } from './open';
import type { RatingChoice, RatingItem, RatingSourceSpec, RatingSummaryRow, RatingTaskSummary } from '../shared/analysis';
import type { CommandArgs } from '../shared/contract';
import { mulberry32, shuffled, summarizeRatings } from '../shared/rating-stats';

export type RatingTaskSpec = CommandArgs<'createRatingTask'>[0];
export type RateItemArgs = CommandArgs<'rateItem'>[0];
type Split = RatingTaskSpec['split'];

const KINDS: Record<Split, string> = { train: "'direct', 'rationalized'", eval: "'eval'" };
const SPLIT_WORDS: Record<Split, string> = { train: 'training', eval: 'held-out' };

/** A source's chosen sample of a question; the texts are read only for the pairs kept. */
interface Picked {
  id: number;
  question_id: string;
  iteration: number;
  correct: number;
  hint_used: number;
}

interface SampleText {
  question: string;
  gold: string;
  text: string;
  answer: string | null;
}

/**
 * Each question's chosen sample of a source (see the module comment for the rules). No text
 * columns here: carrying the rationales through the window sort doubles its time on large runs.
 */
function pickSamples(db: DB, src: RatingSourceSpec, split: Split): Map<string, Picked> {
  const rows = db
    .prepare(
      `WITH cand AS (
         SELECT id, question_id, iteration, correct, hint_used,
                MAX(iteration) OVER (PARTITION BY question_id) AS latest
         FROM samples
         WHERE run_id = @run AND kind IN (${KINDS[split]}) AND (@iteration IS NULL OR iteration = @iteration)
       ), ranked AS (
         SELECT *, ROW_NUMBER() OVER (
                  PARTITION BY question_id
                  ORDER BY (correct = 1 AND hint_used = 0) DESC, (correct = 1 AND hint_used = 1) DESC, id) AS rn
         FROM cand WHERE iteration = latest
       )
       SELECT id, question_id, iteration, correct, hint_used FROM ranked WHERE rn = 1`,
    )
    .all({ run: src.runId, iteration: src.iteration }) as Picked[];
  return new Map(rows.map((r) => [r.question_id, r]));
}

interface RunLabelRow {
  variant: string;
  dataset: string;
  seed: number;
}

function sourceLabel(run: RunLabelRow, iteration: number | null): string {
  return `${run.variant} · ${run.dataset} · seed ${run.seed} · ${iteration === null ? 'latest' : `it ${iteration}`}`;
}

const describeSource = (s: RatingSourceSpec) => `run '${s.runId}' ${s.iteration === null ? '(latest)' : `at iteration ${s.iteration}`}`;

/** Create a task: pick, filter, order and side the pairs once, and store them with the seed. */
export function createRatingTask(
  db: DB,
  spec: RatingTaskSpec,
  now = Date.now() / 1000,
): { ok: true; id: number; items: number } | { ok: false; message: string } {
  const { a, b, split } = spec;
  if (a.runId === b.runId && a.iteration === b.iteration) {
    return { ok: false, message: `source A and source B are the same (${describeSource(a)}): pick two different runs or iterations` };
  }
  const runOf = db.prepare('SELECT variant, dataset, seed FROM runs WHERE id = ?');
  const runA = runOf.get(a.runId) as RunLabelRow | undefined;
  const runB = runOf.get(b.runId) as RunLabelRow | undefined;
  if (!runA) return { ok: false, message: `source A: unknown run '${a.runId}'` };
  if (!runB) return { ok: false, message: `source B: unknown run '${b.runId}'` };
  let labelA = sourceLabel(runA, a.iteration);
  let labelB = sourceLabel(runB, b.iteration);
  // Two runs can share variant, dataset and seed (a retry, another preset): the two sides of
  // one task must never read the same (the summary strips this and decides over all its rows).
  if (labelA === labelB) {
    labelA += ` · run ${a.runId}`;
    labelB += ` · run ${b.runId}`;
  }

  const seed = spec.seed ?? randomInt(0, 2 ** 31);
  const rand = mulberry32(seed);

  // One read snapshot for picking and reading texts, so a concurrent ingest or resume (which
  // deletes samples) cannot change the runs halfway through.
  type Pair = [Picked & SampleText, Picked & SampleText];
  const collected = db.transaction((): { pairs: Pair[] } | { message: string } => {
    const picksA = pickSamples(db, a, split);
    const picksB = pickSamples(db, b, split);
    const where = (s: RatingSourceSpec) => (s.iteration === null ? '' : ` at iteration ${s.iteration}`);
    if (!picksA.size) return { message: `source A (${labelA}) has no ${SPLIT_WORDS[split]} rationales${where(a)}` };
    if (!picksB.size) return { message: `source B (${labelB}) has no ${SPLIT_WORDS[split]} rationales${where(b)}` };

    // Sorted by id (code-unit order, locale-independent) so the seeded shuffle alone decides the order.
    const common = [...picksA.keys()].filter((q) => picksB.has(q)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    if (!common.length) return { message: `no question has a ${SPLIT_WORDS[split]} rationale in both sources (${labelA} vs ${labelB})` };
    // Shuffle the question ids first, then read texts in that order until `limit` pairs are
    // kept: a task of 50 over 50k questions reads about 100 texts, not 100k.
    const textOf = db.prepare('SELECT question, gold, text, answer FROM samples WHERE id = ?');
    let identical = 0;
    let notCorrect = 0;
    const pairs: Pair[] = [];
    for (const q of shuffled(common, rand)) {
      if (pairs.length >= spec.limit) break;
      const pa = picksA.get(q)!;
      const pb = picksB.get(q)!;
      // onlyCorrect admits a rationale that is correct only through the hint (hint_used = 1: the
      // model saw the answer). Rationalized rationales are legitimate STaR training data; the
      // pick already prefers a correct one without the hint, and each item stores a_/b_hint_used
      // so the CSV's a_via_hint / b_via_hint tell them apart.
      if (spec.onlyCorrect && !(pa.correct && pb.correct)) {
        notCorrect++;
        continue;
      }
      const ta = textOf.get(pa.id) as SampleText;
      const tb = textOf.get(pb.id) as SampleText;
      if (ta.text === tb.text)
        identical++; // nothing to judge
      else
        pairs.push([
          { ...pa, ...ta },
          { ...pb, ...tb },
        ]);
    }
    // Only reached after walking every common question (nothing was kept), so the counts are complete.
    if (!pairs.length) {
      const why = [notCorrect && `${notCorrect} not answered correctly by both`, identical && `${identical} with identical rationales`]
        .filter(Boolean)
        .join(', ');
      return { message: `nothing to rate: of ${common.length} common questions, ${why}` };
    }
    return { pairs };
  })();
  if ('message' in collected) return { ok: false, message: collected.message };
  const chosen = collected.pairs;
  // Sides after the order, from the same generator: a seed fixes both.
  const aLeft = chosen.map(() => rand() < 0.5);

  const id = db
    .transaction(() => {
      const taskId = Number(
        db
          .prepare(
            `INSERT INTO rating_tasks (name, rater, created_at, split, only_correct, seed, a_run_id, a_iteration, a_label, b_run_id, b_iteration, b_label)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            spec.name,
            spec.rater,
            now,
            split,
            spec.onlyCorrect ? 1 : 0,
            seed,
            a.runId,
            a.iteration,
            labelA,
            b.runId,
            b.iteration,
            labelB,
          ).lastInsertRowid,
      );
      const ins = db.prepare(
        `INSERT INTO rating_items (task_id, position, question_id, question, gold, a_left,
         a_sample_id, a_iteration, a_text, a_answer, a_correct, a_hint_used,
         b_sample_id, b_iteration, b_text, b_answer, b_correct, b_hint_used)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      chosen.forEach(([pa, pb], pos) => {
        ins.run(
          taskId,
          pos,
          pa.question_id,
          pa.question,
          pa.gold,
          aLeft[pos] ? 1 : 0,
          pa.id,
          pa.iteration,
          pa.text,
          pa.answer,
          pa.correct,
          pa.hint_used,
          pb.id,
          pb.iteration,
          pb.text,
          pb.answer,
          pb.correct,
          pb.hint_used,
        );
      });
      return taskId;
    })
    .immediate();
  return { ok: true, id, items: chosen.length };
}

interface TaskRow {
  id: number;
  name: string;
  rater: string;
  created_at: number;
  split: Split;
  a_run_id: string;
  a_iteration: number | null;
  a_label: string;
  b_run_id: string;
  b_iteration: number | null;
  b_label: string;
  items: number;
  rated: number;
}

/** Every task, newest first, with its progress. */
export function listRatingTasks(db: DB): RatingTaskSummary[] {
  const rows = db
    .prepare(
      `SELECT t.*, (SELECT count(*) FROM rating_items i WHERE i.task_id = t.id) AS items,
              (SELECT count(*) FROM ratings r WHERE r.task_id = t.id) AS rated
       FROM rating_tasks t ORDER BY t.id DESC`,
    )
    .all() as TaskRow[];
  return rows.map((t) => ({
    id: t.id,
    name: t.name,
    rater: t.rater,
    createdAt: t.created_at,
    a: { runId: t.a_run_id, iteration: t.a_iteration, label: t.a_label },
    b: { runId: t.b_run_id, iteration: t.b_iteration, label: t.b_label },
    split: t.split,
    items: t.items,
    rated: t.rated,
  }));
}

function progress(db: DB, taskId: number): { total: number; rated: number } {
  return db
    .prepare(
      `SELECT (SELECT count(*) FROM rating_items WHERE task_id = @t) AS total,
              (SELECT count(*) FROM ratings WHERE task_id = @t) AS rated`,
    )
    .get({ t: taskId }) as { total: number; rated: number };
}

interface ItemRow {
  position: number;
  question_id: string;
  question: string;
  gold: string;
  a_left: number;
  a_text: string;
  a_answer: string | null;
  a_correct: number;
  b_text: string;
  b_answer: string | null;
  b_correct: number;
  choice: RatingChoice | null;
  flag_left: number | null;
  flag_right: number | null;
}

/**
 * One blind pair (null: no such task or position). Without a position: the first pair not rated
 * yet, or the last one when all are. Carries nothing that tells the sources apart.
 */
export function getRatingItem(db: DB, taskId: number, position?: number): RatingItem | null {
  const { total, rated } = progress(db, taskId);
  if (!total) return null;
  let pos = position;
  if (pos === undefined) {
    const next = db
      .prepare(
        `SELECT MIN(i.position) AS p FROM rating_items i
         WHERE i.task_id = ? AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.task_id = i.task_id AND r.position = i.position)`,
      )
      .get(taskId) as { p: number | null };
    pos = next.p ?? total - 1;
  }
  const r = db
    .prepare(
      `SELECT i.position, i.question_id, i.question, i.gold, i.a_left, i.a_text, i.a_answer, i.a_correct, i.b_text, i.b_answer, i.b_correct,
              r.choice, r.flag_left, r.flag_right
       FROM rating_items i LEFT JOIN ratings r ON r.task_id = i.task_id AND r.position = i.position
       WHERE i.task_id = ? AND i.position = ?`,
    )
    .get(taskId, pos) as ItemRow | undefined;
  if (!r) return null;
  const a = { text: r.a_text, answer: r.a_answer, correct: r.a_correct === 1 };
  const b = { text: r.b_text, answer: r.b_answer, correct: r.b_correct === 1 };
  return {
    taskId,
    position: r.position,
    total,
    rated,
    questionId: r.question_id,
    question: r.question,
    gold: r.gold,
    left: r.a_left ? a : b,
    right: r.a_left ? b : a,
    choice: r.choice,
    flagLeft: r.flag_left === 1,
    flagRight: r.flag_right === 1,
  };
}

/** Store (or overwrite) the judgement of one pair, as the rater saw it. */
export function rateItem(
  db: DB,
  args: RateItemArgs,
  now = Date.now() / 1000,
): { ok: true; rated: number } | { ok: false; message: string } {
  const { total } = progress(db, args.taskId);
  if (!total) return { ok: false, message: `no rating task ${args.taskId}` };
  if (args.position >= total)
    return { ok: false, message: `position ${args.position} is out of range: task ${args.taskId} has ${total} pairs (0..${total - 1})` };
  db.prepare(
    `INSERT INTO ratings (task_id, position, rater, choice, flag_left, flag_right, rated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (task_id, position) DO UPDATE SET
       rater = excluded.rater, choice = excluded.choice, flag_left = excluded.flag_left,
       flag_right = excluded.flag_right, rated_at = excluded.rated_at`,
  ).run(args.taskId, args.position, args.rater, args.choice, args.flagLeft ? 1 : 0, args.flagRight ? 1 : 0, now);
  return { ok: true, rated: progress(db, args.taskId).rated };
}

/** A stored label without the " · run <id>" that createRatingTask adds when a task's two sides read the same. */
function baseLabel(label: string, runId: string): string {
  const suffix = ` · run ${runId}`;
  return label.endsWith(suffix) ? label.slice(0, -suffix.length) : label;
}

/**
 * Per (source A, source B, split) over every task (or one): see shared/rating-stats
 * summarizeRatings, which also re-adds a short run id wherever two runs share a label.
 */
export function ratingSummary(db: DB, taskId?: number): RatingSummaryRow[] {
  const filter = taskId === undefined ? '' : 'WHERE t.id = @task';
  type PairRow = { aRun: string; aIt: number | null; aLabel: string; bRun: string; bIt: number | null; bLabel: string; split: Split };
  const pairOf = (r: PairRow) => ({
    a: { runId: r.aRun, iteration: r.aIt, label: baseLabel(r.aLabel, r.aRun) },
    b: { runId: r.bRun, iteration: r.bIt, label: baseLabel(r.bLabel, r.bRun) },
    split: r.split,
  });
  const cols =
    't.a_run_id AS aRun, t.a_iteration AS aIt, t.a_label AS aLabel, t.b_run_id AS bRun, t.b_iteration AS bIt, t.b_label AS bLabel, t.split';
  const tasks = db.prepare(`SELECT ${cols} FROM rating_tasks t ${filter} ORDER BY t.id`).all({ task: taskId }) as PairRow[];
  const rows = db
    .prepare(
      `SELECT ${cols}, i.a_left AS aLeft, r.choice, r.flag_left AS flagLeft, r.flag_right AS flagRight, r.rater
       FROM ratings r JOIN rating_items i ON i.task_id = r.task_id AND i.position = r.position
       JOIN rating_tasks t ON t.id = r.task_id ${filter}
       ORDER BY t.id, r.position`,
    )
    .all({ task: taskId }) as (PairRow & { aLeft: number; choice: RatingChoice; flagLeft: number; flagRight: number; rater: string })[];
  return summarizeRatings(
    tasks.map(pairOf),
    rows.map((r) => ({
      ...pairOf(r),
      aLeft: r.aLeft === 1,
      choice: r.choice,
      flagLeft: r.flagLeft === 1,
      flagRight: r.flagRight === 1,
      rater: r.rater,
    })),
  );
}

export { csvCell, RATINGS_CSV_HEADER, ratingsCsv } from './ratings-csv';
