/** Fault family 1: the experiment process killed with SIGKILL (mid-line, before its first event, mid-iteration). */
import { join } from 'node:path';
import { createService, type Service } from '../../core/service';
import { MICRO_STAR } from '../../tests/fixtures/micro-star';
import { faultRow, FAKE_PYTHON, killRunsOf, measure, type Row, tempDir, VENV_PYTHON, waitFor, writtenSeqs } from './lib';

const SPEC = { variant: 'star', dataset: 'addition', preset: 'tiny' } as const;

async function withService<T>(python: string, env: Record<string, string>, fn: (s: Service, dataDir: string) => Promise<T>): Promise<T> {
  const dataDir = tempDir();
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const s = createService({ dataDir, pythonPath: python, pollMs: 100, stopGraceMs: 20_000 });
  try {
    return await fn(s, dataDir);
  } finally {
    s.close();
    killRunsOf(dataDir);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function launch(s: Service, overrides?: Record<string, string>): Promise<string> {
  const r = await s.launchRun({ ...SPEC, seed: 1, overrides });
  if (!r.ok) throw new Error(`launch refused: ${JSON.stringify(r.errors)}`);
  return r.id;
}

/** Kill, wait for the verdict, count, and judge the final status against `want`. */
async function killAndJudge(s: Service, dataDir: string, fault: string, id: string, want: RegExp): Promise<Row> {
  const pid = s.getRun(id)!.pid!;
  process.kill(-pid, 'SIGKILL');
  const d = (await s.waitForRun(id, { timeoutMs: 20_000 }))!;
  const file = join(d.runDir, 'events.jsonl');
  const seqs = writtenSeqs(file);
  const m = measure(join(dataDir, 'starlab.db'), new Map([[id, seqs]]), new Map([[id, file]]));
  const problems = [...m.mismatches];
  if (d.status !== 'failed' || !want.test(d.statusReason ?? '')) problems.push(`status ${d.status}: ${d.statusReason}`);
  return faultRow(fault, 1, seqs.length, m, problems, `${d.status}, "${d.statusReason}"`);
}

export async function killMidLine(): Promise<Row> {
  return withService(FAKE_PYTHON, { STARLAB_FAKE_MODE: 'partial' }, async (s, dataDir) => {
    const id = await launch(s);
    await waitFor(() => s.getLogs(id, {}).some((l) => /wrote half a line/.test(l.message)), 20_000, 'the torn line');
    return killAndJudge(
      s,
      dataDir,
      'experiment SIGKILL mid-line',
      id,
      /^killed by SIGKILL; events\.jsonl ends with an incomplete line of \d+ bytes/,
    );
  });
}

export async function killBeforeFirstEvent(): Promise<Row> {
  return withService(FAKE_PYTHON, { STARLAB_FAKE_MODE: 'silent' }, async (s, dataDir) => {
    const id = await launch(s);
    await waitFor(() => s.getLogs(id, {}).some((l) => l.source === 'stdout'), 20_000, 'the process to start');
    return killAndJudge(s, dataDir, 'experiment SIGKILL before 1st event', id, /^killed by SIGKILL; no event was written/);
  });
}

/**
 * A real STaR run (tests/fixtures/micro-star.ts), two iterations; the second trains 10× longer
 * (1,200 steps, seconds), so the kill has a wide window inside it. The longer warm-up makes the
 * model keep rationales: a STaR iteration that keeps nothing has nothing to train on and ends in
 * milliseconds, which is how a CI run once finished the whole run between two polls.
 */
const MICRO = {
  ...MICRO_STAR,
  'warmup.steps': '300',
  'loop.iterations': '2',
  'loop.base_steps': '120',
  'loop.step_growth': '10',
};

/**
 * A real `python -m starlab run` killed inside iteration 1 (after its first checkpoint), then
 * resumed to completion: every complete line ingested once, the redone iteration not doubled.
 */
export async function killRealMidIteration(): Promise<Row> {
  return withService(VENV_PYTHON, {}, async (s, dataDir) => {
    const id = await launch(s, MICRO);
    await waitFor(
      () => {
        const d = s.getRun(id);
        if (!d || d.status !== 'running') throw new Error(`run ended early: ${d?.status} ${d?.statusReason} ${d?.stderrTail}`);
        return (
          (d.checkpointIteration ?? -1) >= 0 &&
          (d.currentIteration ?? 0) >= 1 &&
          d.phases.some((p) => p.iteration >= 1 && p.endedAt === null)
        );
      },
      150_000,
      'the run to be inside iteration 1',
    );
    const killed = await killAndJudge(s, dataDir, '', id, /^killed by SIGKILL/);
    const afterKill = killed.status;
    const r = await s.resumeRun(id);
    if (!r.ok) return { ...killed, fault: 'real STaR run SIGKILL mid-iteration', status: `FAIL: resume refused: ${r.message}` };
    const d = (await s.waitForRun(id, { timeoutMs: 150_000 }))!;
    const file = join(d.runDir, 'events.jsonl');
    const seqs = writtenSeqs(file);
    const m = measure(join(dataDir, 'starlab.db'), new Map([[id, seqs]]), new Map());
    const problems = [...m.mismatches];
    if (!afterKill.startsWith('ok')) problems.push(`after the kill: ${afterKill}`);
    if (d.status !== 'completed') problems.push(`after resume: ${d.status}: ${d.statusReason}`);
    // the resume drops what the killed iteration stored and redoes it: rows of the interrupted
    // iteration that are still in the gate but not in metrics are expected, so lost counts seqs only
    return faultRow(
      'real STaR run SIGKILL mid-iteration + resume',
      1,
      seqs.length,
      m,
      problems,
      `killed (${afterKill.replace(/^ok: failed, /, '')}), resumed, completed`,
    );
  });
}
