/**
 * The deployable verifier of a V-STaR run (experiments/starlab/verifier_dir.py): exporting the
 * folder the run saved, and reranking any generator's candidates with such a folder. Both run
 * the experiments package's own tools; the run directory is located without following links.
 */
import { resolve } from 'node:path';
import * as q from '../../db/queries';
import { locateRunDir } from '../bundle-run-dir';
import { runPythonTool } from '../python-tool';
import { noRun, type ServiceContext } from './context';
import type { Failure } from '../failure';

export interface VerifierExport {
  ok: true;
  dir: string;
  iteration: number;
  files: string[];
}

/** What `python -m starlab rerank --json` answers (curves only when every question has a gold answer). */
export interface RerankResult {
  ok: true;
  questions: number;
  chosen: { index: number; text: string; reward: number; answer: string | null; correct?: boolean }[];
  scores: number[][];
  /** Why there are no curves when some lines have a gold answer and others not. */
  note?: string;
  curves?: Record<'pass' | 'majority' | 'best_of_k', Record<string, number>>;
}

export interface VerifierCommands {
  /** Copy run `id`'s saved verifier (its last, or iteration `o.iteration`) to the new or empty folder `out`. */
  exportVerifierTo(id: string, out: string, o?: { iteration?: number }): Promise<VerifierExport | Failure>;
  /** Score the candidates in the JSONL `file` with the verifier folder `dir`. */
  rerankCandidates(dir: string, file: string, o?: { device?: string }): Promise<RerankResult | Failure>;
}

export function verifierCommands(ctx: ServiceContext): VerifierCommands {
  return {
    async exportVerifierTo(id, out, o = {}) {
      const row = q.getRunRow(ctx.db, id);
      if (!row) return noRun(id);
      if (row.variant !== 'v-star') return { ok: false, message: `run ${id} is ${row.variant}; only V-STaR runs train a verifier` };
      const where = locateRunDir(ctx.dataDir, id, row.run_dir);
      if ('missing' in where) return { ok: false, message: `run ${id} has no run directory here` };
      if ('refused' in where) return { ok: false, message: `run ${id}: ${where.refused}` };
      const args = ['export-verifier', '--run-dir', where.dir, '--out', resolve(out)];
      if (o.iteration !== undefined) args.push('--iteration', String(o.iteration));
      const r = await runPythonTool(ctx.python(), ctx.root, args, { timeoutMs: 0 });
      if (r.error !== null) return { ok: false, message: r.error };
      return r.json?.ok === true
        ? (r.json as unknown as VerifierExport)
        : { ok: false, message: `unexpected output: ${r.stdout.slice(0, 500)}` };
    },

    async rerankCandidates(dir, file, o = {}) {
      const args = ['rerank', '--verifier', resolve(dir), '--candidates', resolve(file), '--json'];
      if (o.device) args.push('--device', o.device);
      const r = await runPythonTool(ctx.python(), ctx.root, args, { timeoutMs: 0, maxBuffer: 1024 * 1024 * 1024 });
      if (r.error !== null) return { ok: false, message: r.error };
      return r.json?.ok === true
        ? (r.json as unknown as RerankResult)
        : { ok: false, message: `unexpected output: ${r.stdout.slice(0, 500)}` };
    },
  };
}
