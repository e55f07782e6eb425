/**
 * The `starlab` command line (bundled to out/main/cli.js; bin/starlab.js runs it):
 *   starlab launch --variant V --dataset D --preset P [--seed N] [--set key=value]… [--wait] [--json]
 *   starlab list [--json]
 *   starlab show RUN [--json]
 *   starlab edit RUN [--name N | --default-name] [--tag T]… [--untag T]… [--notes TEXT] [--json]
 *   starlab archive RUN… [--undo] [--json]   out of the runs table's way
 *   starlab delete RUN… --yes [--json]       rows removed, directories moved to <data dir>/trash
 *   starlab stop RUN [--no-wait]
 *   starlab resume RUN [--wait] [--json]
 *   starlab import-data --dataset gsm8k|commonsenseqa --train F --eval F [--json]
 *   starlab ablate --variants a,b --datasets d --seeds 0,1,2 --preset P [--set k=v]… [--sweep k=v1,v2]… [--wait] [--json]
 *   starlab queue [--max N] [--gpus 0,1]   run the queue until it is empty
 *   starlab traces RUN [--iteration N] [--filter newly-solved|forgotten|never-solved|rationalized-only] [--search TEXT] [--json]
 *   starlab curves RUN --kind best-of-k|majority|pass-at-k [--iteration N] [--scorer dpo|orm|logp|likelihood] [--json]
 *   starlab ratings [--task N] [--csv FILE [--force]] [--json]   blind rationale ratings: summary and CSV
 *   starlab export GROUP [--format svg,pdf,png,csv,tex,pgf,py] --out DIR [--force] [--preset single-column|double-column] [--font-family serif|sans-serif] [--font-size PT] [--metric NAME] [--json]
 *   starlab bundle export RUN… -o FILE [--all] [--no-checkpoints] [--force] [--json]   runs (rows + directories) to one portable file
 *   starlab bundle import FILE [--json]   add a bundle's runs (those already present are skipped)
 *   starlab backup FILE [--force] [--json]   an online, checked copy of the database
 *   starlab check [--json]                   integrity, and run directories the database does not know
 *   starlab reindex [--json]                 put those run directories back (the normal ingest)
 *   starlab sync DIR… [--json]               runs written elsewhere (offline scripts, other machines) into the lab
 *   starlab verifier export RUN --out DIR [--iteration N] [--json]   a V-STaR run's verifier as a folder of its own
 *   starlab rerank --verifier DIR --candidates FILE.jsonl [--device D] [--json]   score any generator's candidates with it
 *   starlab serve [--host H] [--port P]
 * Every command takes --data-dir (else STARLAB_DATA_DIR, else the platform's app-data dir).
 */
import { Command } from 'commander';
import { version } from '../package.json';
import { fsErrorMessage } from '../core/fs-errors';
import { err } from './io';
import { register as registerRuns } from './commands/runs';
import { register as registerInspect } from './commands/inspect';
import { register as registerQueue } from './commands/queue';
import { register as registerData } from './commands/data';
import { register as registerExport } from './commands/export';
import { register as registerLifecycle } from './commands/lifecycle';
import { register as registerServe } from './commands/serve';
import { register as registerVerifier } from './commands/verifier';

export { EXIT_INVALID } from './io';

export function buildProgram(): Command {
  const program = new Command();
  program.name('starlab').description('STaR Lab: launch and track self-taught-reasoning experiments').version(version).showHelpAfterError();
  registerRuns(program); // launch, list, show, edit, stop, resume
  registerLifecycle(program); // archive, delete
  registerInspect(program); // traces, curves, ratings
  registerQueue(program); // ablate, queue
  registerData(program); // import-data, bundle export/import, backup, check, reindex, sync
  registerExport(program); // export
  registerVerifier(program); // verifier export, rerank
  registerServe(program); // serve
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    // one sentence, no stack trace: file-system errors (EISDIR, ENOENT, ENOSPC, …) name the path and what to do
    err(`starlab: ${fsErrorMessage(e, { action: `run ${process.argv.slice(2).find((a) => !a.startsWith('-')) ?? 'the command'}` })}`);
    process.exitCode = 1;
  });
