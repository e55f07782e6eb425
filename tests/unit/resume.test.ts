/**
 * Resume deletes nothing before the resumed process has loaded its checkpoint: a resume that
 * fails first leaves every row and the run's ending as they were (issue 13), and an old pickle
 * checkpoint is refused before anything starts. Real child processes (the fake experiment).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import type { LaunchContext } from '../../core/executor';
import { cleanupTempDirs, fakeCommand, SPEC, tempDir } from '../fixtures/helpers';

const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(cleanupTempDirs);

/** A service whose first launch fails after three iterations (0, 1, 2) and whose resume runs `resumeMode`. */
function service(resumeMode: string): Service {
  const s = createService({
    dataDir: tempDir(),
    pollMs: 50,
    commandFor: fakeCommand((ctx: LaunchContext) => (ctx.resume ? resumeMode : 'fail'), { STARLAB_FAKE_FAIL_ITERATIONS: '3' }),
  });
  open.push(s);
  return s;
}

async function failedRun(s: Service, checkpoint: Record<string, unknown>): Promise<string> {
  const r = await s.launchRun({ ...SPEC, seed: 1 });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const d = (await s.waitForRun(r.id, { timeoutMs: 10_000 }))!;
  expect(d.status).toBe('failed');
  mkdirSync(join(d.runDir, 'checkpoint'), { recursive: true });
  writeFileSync(join(d.runDir, 'checkpoint', 'state.json'), JSON.stringify(checkpoint));
  return r.id;
}

/** Everything a resume could drop or change: row counts of every per-iteration table and the run's ending. */
function snapshot(s: Service, id: string) {
  const n = (t: string) => (s.db.prepare(`SELECT count(*) AS n FROM ${t} WHERE run_id = ?`).get(id) as { n: number }).n;
  const row = s.db
    .prepare(
      'SELECT status, status_reason, ended_at, exit_code, signal, stderr_tail, end_status, end_error, latest_accuracy, current_iteration, resume_prev_json FROM runs WHERE id = ?',
    )
    .get(id);
  return {
    rows: {
      metrics: n('metrics'),
      samples: n('samples'),
      phases: n('phases'),
      question_outcomes: n('question_outcomes'),
      question_summary: n('question_summary'),
    },
    row,
  };
}

describe('resume', () => {
  for (const [mode, why] of [
    ['resume-fail', /CheckpointError: the checkpoint was written with a different config/],
    ['resume-die', /exited with code 137/],
  ] as const) {
    it(`that fails before the checkpoint is loaded (${mode}) leaves every row and the ending as they were`, async () => {
      const s = service(mode);
      const id = await failedRun(s, { iteration: 1, format: 2 });
      const before = snapshot(s, id);
      expect(before.rows.metrics).toBe(6); // 2 per iteration, 3 iterations
      const r = await s.resumeRun(id);
      expect(r.ok).toBe(true);
      const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
      expect(snapshot(s, id)).toEqual(before);
      expect(d.status).toBe('failed');
      const log = s.getLogs(id, {}).find((l) => /resume failed before the checkpoint was loaded/.test(l.message));
      expect(log?.message).toMatch(why);
      expect(log?.message).toMatch(/nothing was dropped/);
      // and it can be resumed again later
      expect(s.getRun(id)!.checkpointIteration).toBe(1);
    });
  }

  it('drops what came after the checkpoint once the resumed process has loaded it, and redoes it', async () => {
    const s = service('resume-ok');
    const id = await failedRun(s, { iteration: 1, format: 2 });
    expect((await s.resumeRun(id)).ok).toBe(true);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('completed');
    // iteration 2 was stored by the failed process, dropped at `resumed`, and written again once
    expect(d.metrics['eval/accuracy']!.map((p) => p.iteration)).toEqual([0, 1, 2]);
    const samples = s.db.prepare('SELECT iteration, count(*) AS n FROM samples WHERE run_id = ? GROUP BY iteration').all(id);
    expect(samples).toEqual([0, 1, 2].map((iteration) => ({ iteration, n: 2 })));
    expect(snapshot(s, id).row).toMatchObject({ resume_prev_json: null, status: 'completed' });
    expect(
      s.getLogs(id, {}).some((l) => /loaded its checkpoint of iteration 1: \d+ rows of later iterations dropped/.test(l.message)),
    ).toBe(true);
  });

  it('refuses a checkpoint in the old pickle format before starting anything', async () => {
    const s = service('resume-ok');
    const id = await failedRun(s, { iteration: 1 });
    const before = snapshot(s, id);
    const r = await s.resumeRun(id);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/pickle format, which can run code when it is loaded/);
    expect(snapshot(s, id)).toEqual(before);
  });
});
