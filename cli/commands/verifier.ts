/** `starlab` commands: verifier export, rerank — a V-STaR verifier deployed apart from its run (registered by cli/main.ts). */
import { type Command } from 'commander';
import { out, fail, refuse, dataDirOption } from '../io';
import { withRun, withService } from '../service-scope';

export function register(program: Command): void {
  const verifier = program.command('verifier').description("a V-STaR run's trained verifier, as a folder of its own");
  verifier
    .command('export')
    .description("copy a V-STaR run's saved verifier (weights or adapter, reference, tokenizer, manifest) to a new folder")
    .argument('<run>', 'run id (or a unique prefix)')
    .requiredOption('--out <dir>', 'a new (or empty) folder')
    .option('--iteration <n>', "that iteration's verifier (default: the last the run kept; verifier.save=every keeps them all)")
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (run: string, o: { out: string; iteration?: string; json?: boolean; dataDir?: string }) => {
      const iteration = o.iteration === undefined ? undefined : Number(o.iteration);
      if (iteration !== undefined && !(Number.isInteger(iteration) && iteration >= 0))
        return refuse([{ field: 'iteration', message: `"${o.iteration}" is not a whole number` }], o.json);
      await withRun(o.dataDir, run, async (service, id) => {
        const r = await service.exportVerifierTo(id, o.out, iteration === undefined ? {} : { iteration });
        if (!r.ok) return fail(r, o.json);
        out(o.json ? JSON.stringify(r) : `wrote iteration ${r.iteration}'s verifier to ${r.dir} (${r.files.length} files)`);
      });
    });

  program
    .command('rerank')
    .description('score candidates from any generator with a saved verifier; with gold answers, Pass@k, majority@k and Best-of-k')
    .requiredOption('--verifier <dir>', 'a verifier folder (starlab verifier export)')
    .requiredOption('--candidates <file>', 'JSONL, one {"question", "candidates": [...], "gold"?} per line')
    .option('--device <device>', 'cpu, cuda, … (default: cuda when available)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { verifier: string; candidates: string; device?: string; json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        const r = await service.rerankCandidates(o.verifier, o.candidates, o.device ? { device: o.device } : {});
        if (!r.ok) return fail(r, o.json);
        if (o.json) return out(JSON.stringify(r));
        r.chosen.forEach((c, i) => {
          const mark = c.correct === undefined ? '' : c.correct ? ' ✓' : ' ✗';
          out(`${i}\tcandidate ${c.index}\treward ${c.reward.toFixed(4)}\tanswer ${c.answer ?? '-'}${mark}`);
        });
        if (r.note) out(r.note);
        if (r.curves) {
          out('k\tpass@k\tmajority@k\tbest-of-k');
          for (const k of Object.keys(r.curves.pass))
            out(`${k}\t${r.curves.pass[k]!.toFixed(4)}\t${r.curves.majority[k]!.toFixed(4)}\t${r.curves.best_of_k[k]!.toFixed(4)}`);
        }
      });
    });
}
