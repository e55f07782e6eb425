/**
 * Migrations from every earlier schema version, with data in it: build a database at version
 * v by applying migrations 0..v-1 from the list, fill it with rows valid at v, reopen it with
 * openDatabase (which migrates to the current version) and check that nothing was lost and
 * the derived tables (question outcomes, summaries, counts, the search index) are right.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { integrityProblems, openDatabase, schemaVersion, type DB } from '../../db/open';
import { migrations, SCHEMA_VERSION } from '../../db/migrations/index';
import { queryTraces } from '../../db/traces';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

/** A raw database at schema version v (no openDatabase: it would migrate to the current one). */
function databaseAt(file: string, v: number): DB {
  const db = new Database(file);
  db.pragma('foreign_keys = ON');
  for (let i = 0; i < v; i++) {
    const m = migrations[i]!;
    if (typeof m.up === 'string') db.exec(m.up);
    else m.up(db);
    db.pragma(`user_version = ${i + 1}`);
  }
  return db;
}

/** The trace samples of run r1 (train) and one eval sample; plus a V-STaR candidate (not a trace). */
const SAMPLES: [iteration: number, split: string, kind: string, qid: string, text: string, correct: number, hint: number][] = [
  [0, 'train', 'direct', 'q1', 'we add the digits and get 7', 0, 0],
  [0, 'train', 'rationalized', 'q1', 'with the hint the sum is 8', 1, 1],
  [0, 'train', 'direct', 'q2', 'the zebra ate 3 apples so 5 remain', 1, 0],
  [1, 'train', 'direct', 'q1', 'carry the one: 8', 1, 0],
  [1, 'train', 'direct', 'q2', 'the answer is 4', 0, 0],
  [1, 'eval', 'eval', 'q1', 'eval rationale 8', 1, 0],
  [1, 'train', 'candidate', 'q1', 'a candidate', 1, 0],
];

/** Rows valid at schema version v (v >= 1), the same data whatever v adds. */
function fill(db: DB, v: number): void {
  if (v < 1) return; // v0: an empty file, no tables yet
  db.prepare("INSERT INTO experiment_groups (id, name, created_at, spec_json) VALUES ('g1', 'ablation', 10, '{\"seeds\":[0,1]}')").run();
  const run = (id: string, status: string, extra: Record<string, unknown> = {}) => {
    const row: Record<string, unknown> = {
      id,
      group_id: 'g1',
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'tiny-llama',
      config_json: '{"seed":0}',
      config_hash: 'h',
      status,
      created_at: 100,
      run_dir: `/data/runs/${id}`,
      started_at: status === 'queued' ? null : 101,
      ended_at: status === 'completed' || status === 'failed' ? 200 : null,
      latest_accuracy: 0.6,
      current_iteration: 1,
      ...extra,
    };
    const keys = Object.keys(row);
    db.prepare(`INSERT INTO runs (${keys.join(', ')}) VALUES (${keys.map((k) => '@' + k).join(', ')})`).run(row);
    db.prepare('INSERT INTO ingest_cursors (run_id, offset, line_no, last_seq) VALUES (?, 1234, 12, 12)').run(id);
  };
  run('r1', 'completed', v >= 2 ? { resume_count: 1, resumed_at: 150 } : {});
  run('r2', 'failed', { status_reason: 'exit code 1' });
  if (v >= 3) run('r3', 'queued', { retry_of: 'r2', gpu_slot: '0' });
  const evt = db.prepare('INSERT INTO run_events (run_id, seq, type, t, payload) VALUES (?, ?, ?, ?, ?)');
  for (let seq = 1; seq <= 12; seq++) evt.run('r1', seq, seq === 1 ? 'run_start' : 'metrics', 100 + seq, seq === 12 ? '{"v":2}' : null);
  const met = db.prepare("INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES ('r1', ?, ?, ?, ?, ?, ?)");
  met.run(2, 'eval/accuracy', 0, 0, 0.5, 102);
  met.run(3, 'eval/accuracy', 1, 1, 0.6, 103);
  met.run(3, 'train/loss', 1, 1, 1.25, 103);
  const smp =
    db.prepare(`INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty)
    VALUES ('r1', ?, ?, ?, ?, ?, ?, ?, ?, '8', '8', ?, ?, ?, ?)`);
  SAMPLES.forEach(([it, split, kind, qid, text, correct, hint], i) =>
    smp.run(4 + it, i, it, split, kind, qid, `question ${qid}?`, text, correct, hint, correct, qid === 'q1' ? 2 : null),
  );
  db.prepare(
    "INSERT INTO phases (run_id, iteration, phase, started_at, ended_at, duration_s) VALUES ('r1', 0, 'generate', 101, 103, 2)",
  ).run();
  db.prepare(
    "INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES ('r1', 10, 'model', 'checkpoint', '/data/runs/r1/checkpoint', 42, 1, 110)",
  ).run();
  db.prepare(
    "INSERT INTO logs (run_id, t, source, level, message) VALUES ('r1', 101, 'stdout', 'info', 'hello'), ('r2', 102, 'supervisor', 'error', 'exit code 1')",
  ).run();
  db.prepare("INSERT INTO rejected_lines (run_id, line_no, reason, text) VALUES ('r1', 7, 'not JSON', '{oops')").run();
  db.prepare("INSERT INTO settings (key, value) VALUES ('pythonPath', '/usr/bin/python3')").run();
}

const count = (db: DB, table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('migrations from every earlier schema version', () => {
  for (let v = 0; v < SCHEMA_VERSION; v++) {
    it(`v${v} → v${SCHEMA_VERSION} keeps the data and builds the derived tables`, () => {
      const file = join(tempDir(), 'starlab.db');
      const raw = databaseAt(file, v);
      expect(schemaVersion(raw)).toBe(v);
      fill(raw, v);
      raw.close();

      const db = openDatabase(file, { check: true });
      expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
      expect(integrityProblems(db)).toEqual([]);
      if (v === 0) {
        expect(count(db, 'runs')).toBe(0);
        db.close();
        return;
      }
      // everything inserted is there
      expect(db.prepare('SELECT id, status, group_id, started_at, ended_at, status_reason FROM runs ORDER BY id').all()).toEqual([
        { id: 'r1', status: 'completed', group_id: 'g1', started_at: 101, ended_at: 200, status_reason: null },
        { id: 'r2', status: 'failed', group_id: 'g1', started_at: 101, ended_at: 200, status_reason: 'exit code 1' },
        ...(v >= 3 ? [{ id: 'r3', status: 'queued', group_id: 'g1', started_at: null, ended_at: null, status_reason: null }] : []),
      ]);
      // columns added later take their defaults
      expect(db.prepare("SELECT resume_count, resumed_at, gpu_slot, retry_of FROM runs WHERE id = 'r1'").get()).toEqual(
        v >= 2
          ? { resume_count: 1, resumed_at: 150, gpu_slot: null, retry_of: null }
          : { resume_count: 0, resumed_at: null, gpu_slot: null, retry_of: null },
      );
      if (v >= 3)
        expect(db.prepare("SELECT retry_of, gpu_slot FROM runs WHERE id = 'r3'").get()).toEqual({ retry_of: 'r2', gpu_slot: '0' });
      expect(db.prepare('SELECT id, name, created_at, spec_json FROM experiment_groups').all()).toEqual([
        { id: 'g1', name: 'ablation', created_at: 10, spec_json: '{"seeds":[0,1]}' },
      ]);
      expect(count(db, 'run_events')).toBe(12);
      expect(db.prepare("SELECT payload FROM run_events WHERE run_id = 'r1' AND seq = 12").get()).toEqual({ payload: '{"v":2}' });
      expect(db.prepare("SELECT name, step, value FROM metrics WHERE run_id = 'r1' ORDER BY name, step").all()).toEqual([
        { name: 'eval/accuracy', step: 0, value: 0.5 },
        { name: 'eval/accuracy', step: 1, value: 0.6 },
        { name: 'train/loss', step: 1, value: 1.25 },
      ]);
      expect(count(db, 'samples')).toBe(SAMPLES.length);
      expect(count(db, 'phases')).toBe(1);
      expect(count(db, 'artifacts')).toBe(1);
      expect(count(db, 'logs')).toBe(2);
      expect(count(db, 'rejected_lines')).toBe(1);
      expect(count(db, 'ingest_cursors')).toBe(v >= 3 ? 3 : 2);
      expect(db.prepare("SELECT offset, line_no, last_seq FROM ingest_cursors WHERE run_id = 'r1'").get()).toEqual({
        offset: 1234,
        line_no: 12,
        last_seq: 12,
      });
      expect(db.prepare("SELECT value FROM settings WHERE key = 'pythonPath'").get()).toEqual({ value: '/usr/bin/python3' });

      // derived tables, hand-computed from SAMPLES (the candidate is not a trace):
      // q1 train: iteration 0 right only through the hint ('2'), iteration 1 solved ('3')
      // q2 train: iteration 0 solved ('3'), iteration 1 wrong ('1'); q1 eval: only iteration 1, solved
      expect(
        db
          .prepare(
            "SELECT split, question_id, question, difficulty, cells, ever_hinted, samples, first_solved, solved_count, last_unsolved FROM question_summary WHERE run_id = 'r1' ORDER BY split, question_id",
          )
          .all(),
      ).toEqual([
        {
          split: 'eval',
          question_id: 'q1',
          question: 'question q1?',
          difficulty: 2,
          cells: '03',
          ever_hinted: 0,
          samples: 1,
          first_solved: 1,
          solved_count: 1,
          last_unsolved: null,
        },
        {
          split: 'train',
          question_id: 'q1',
          question: 'question q1?',
          difficulty: 2,
          cells: '23',
          ever_hinted: 1,
          samples: 3,
          first_solved: 1,
          solved_count: 1,
          last_unsolved: 0,
        },
        {
          split: 'train',
          question_id: 'q2',
          question: 'question q2?',
          difficulty: null,
          cells: '31',
          ever_hinted: 0,
          samples: 2,
          first_solved: 0,
          solved_count: 1,
          last_unsolved: 1,
        },
      ]);
      expect(
        db
          .prepare(
            "SELECT question_id, iteration, solved, hinted, samples FROM question_outcomes WHERE run_id = 'r1' AND split = 'train' ORDER BY question_id, iteration",
          )
          .all(),
      ).toEqual([
        { question_id: 'q1', iteration: 0, solved: 0, hinted: 1, samples: 2 },
        { question_id: 'q1', iteration: 1, solved: 1, hinted: 0, samples: 1 },
        { question_id: 'q2', iteration: 0, solved: 1, hinted: 0, samples: 1 },
        { question_id: 'q2', iteration: 1, solved: 0, hinted: 0, samples: 1 },
      ]);
      expect(
        db
          .prepare("SELECT split, iteration, solved, hinted, wrong FROM question_counts WHERE run_id = 'r1' ORDER BY split, iteration")
          .all(),
      ).toEqual([
        { split: 'eval', iteration: 1, solved: 1, hinted: 0, wrong: 0 },
        { split: 'train', iteration: 0, solved: 1, hinted: 1, wrong: 0 },
        { split: 'train', iteration: 1, solved: 1, hinted: 0, wrong: 1 },
      ]);
      // the search index has the rationales (a word of one, through the traces query too)
      const zebra = db.prepare("SELECT id FROM samples WHERE text LIKE '%zebra%'").get() as { id: number };
      expect(db.prepare("SELECT rowid AS id FROM samples_fts WHERE samples_fts MATCH 'zeb AND ebr AND bra'").all()).toEqual([zebra]);
      const page = queryTraces(db, 'r1', { search: 'zebra' });
      expect(page.total).toBe(1);
      expect(page.rows.map((r) => r.text)).toEqual(['the zebra ate 3 apples so 5 remain']);
      expect(db.prepare("SELECT count(*) AS n FROM samples_fts WHERE samples_fts MATCH 'can AND did AND ate'").get()).toEqual({ n: 0 });

      // the rating tables (v5) exist, start empty and are usable with the migrated samples
      expect(count(db, 'rating_tasks') + count(db, 'rating_items') + count(db, 'ratings')).toBe(0);
      const task = db
        .prepare(
          `INSERT INTO rating_tasks (name, rater, created_at, split, only_correct, seed, a_run_id, a_iteration, a_label, b_run_id, b_iteration, b_label)
        VALUES ('t', 'me', 1, 'train', 0, 0, 'r1', 0, 'A', 'r1', 1, 'B')`,
        )
        .run().lastInsertRowid;
      db.prepare(
        `INSERT INTO rating_items (task_id, position, question_id, question, gold, a_left, a_sample_id, a_iteration, a_text, a_answer, a_correct, a_hint_used,
                  b_sample_id, b_iteration, b_text, b_answer, b_correct, b_hint_used) VALUES (?, 0, 'q2', 'question q2?', '8', 1, ?, 0, 'x', '8', 1, 0, NULL, 1, 'y', '4', 0, 0)`,
      ).run(task, zebra.id);
      db.prepare(
        "INSERT INTO ratings (task_id, position, rater, choice, flag_left, flag_right, rated_at) VALUES (?, 0, 'me', 'left', 0, 0, 2)",
      ).run(task);
      expect(count(db, 'ratings')).toBe(1);
      expect(integrityProblems(db)).toEqual([]);
      db.close();

      // reopening migrates nothing more
      const again = openDatabase(file, { check: true });
      expect(schemaVersion(again)).toBe(SCHEMA_VERSION);
      expect(count(again, 'samples')).toBe(SAMPLES.length);
      again.close();
    });
  }
});
