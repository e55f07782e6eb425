/** `starlab archive RUN… [--undo]` and `starlab delete RUN… --yes`: the runs table's bulk actions. */
import { type Command } from 'commander';
import { out, err, dataDirOption } from '../io';
import { resolveRunId, withService } from '../service-scope';
import type { Service } from '../../core/service';

/** Every argument as a run id (exact or a unique prefix), or null after naming those that are none. */
function resolveAll(service: Service, args: string[]): string[] | null {
  const ids = args.map((a) => resolveRunId(service, a));
  const unknown = args.filter((_, i) => !ids[i]);
  if (!unknown.length) return ids as string[];
  err(`starlab: no run ${unknown.map((u) => `"${u}"`).join(', ')}`);
  process.exitCode = 1;
  return null;
}

function report(r: { ok: boolean; message: string }, json: boolean | undefined): void {
  if (json) out(JSON.stringify(r));
  else (r.ok ? out : err)(r.ok ? r.message : `starlab: ${r.message}`);
  if (!r.ok) process.exitCode = 1;
}

export function register(program: Command): void {
  program
    .command('archive')
    .description("put runs out of the runs table's way (nothing is removed; the app's Show archived shows them)")
    .argument('<runs...>', 'run ids (or unique prefixes)')
    .option('--undo', 'unarchive them')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (runs: string[], o: { undo?: boolean; json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, (service) => {
        const ids = resolveAll(service, runs);
        if (ids) report(service.archiveRuns(ids, !o.undo), o.json);
      });
    });

  program
    .command('delete')
    .description('delete runs: their rows leave the database, their directories move to <data dir>/trash (running runs are refused)')
    .argument('<runs...>', 'run ids (or unique prefixes)')
    .option('--yes', 'do it (without it, only say what would be deleted)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (runs: string[], o: { yes?: boolean; json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, (service) => {
        service.reconcile();
        const ids = resolveAll(service, runs);
        if (!ids) return;
        if (!o.yes) {
          report({ ok: false, message: `would delete ${ids.join(', ')}: add --yes to delete` }, o.json);
          return;
        }
        report(service.deleteRuns(ids), o.json);
      });
    });
}
