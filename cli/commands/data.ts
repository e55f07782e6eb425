/** `starlab` commands: import-data, bundle, backup, check, reindex (registered by cli/main.ts). */
import { resolve } from 'node:path';
import { type Command } from 'commander';
import { resolveDataDir } from '../../core/paths';
import { checkDataDir } from '../../core/service';
import { DatabaseDamagedError } from '../../db/open';
import { out, err, fail, refuse, dataDirOption, fmtBytes, EXIT_INVALID } from '../io';
import { resolveRunId, withService } from '../service-scope';

export function register(program: Command): void {
  program
    .command('import-data')
    .description("validate a dataset's JSONL files and copy them into the data dir, where runs find them")
    .requiredOption('--dataset <name>', 'gsm8k or commonsenseqa')
    .requiredOption('--train <file>', 'training split (JSONL, CSV or TSV)')
    .requiredOption('--eval <file>', 'evaluation split (JSONL, CSV or TSV: GSM8K test, CommonsenseQA dev)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { dataset: string; train: string; eval: string; json?: boolean; dataDir?: string }) => {
      const dataset = o.dataset;
      if (dataset !== 'gsm8k' && dataset !== 'commonsenseqa') {
        refuse([{ field: 'dataset', message: `"${dataset}" cannot be imported (gsm8k, commonsenseqa)` }], o.json);
        return;
      }
      await withService(o.dataDir, async (service) => {
        const r = await service.importDataset({ dataset, train: resolve(o.train), eval: resolve(o.eval) });
        if (!r.ok) return fail(r, o.json);
        out(o.json ? JSON.stringify(r) : r.message);
      });
    });

  const bundle = program
    .command('bundle')
    .description('portable run bundles: export runs (database rows and run directories) to one file, import them elsewhere');
  bundle
    .command('export')
    .description('write runs (rows, groups, run directories) to one bundle file (a tar archive)')
    .argument('[runs...]', 'run ids (or unique prefixes)')
    .requiredOption('-o, --out <file>', 'bundle file to write')
    .option('--all', 'export every run')
    .option('--no-checkpoints', 'leave out checkpoint/ (model weights); the runs cannot be resumed from the bundle')
    .option('--force', 'overwrite the output file if it exists')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(
      async (
        runs: string[],
        o: { out: string; all?: boolean; checkpoints: boolean; force?: boolean; json?: boolean; dataDir?: string },
      ) => {
        if (!o.all && !runs.length) {
          err('starlab: name the runs to export, or --all');
          process.exitCode = EXIT_INVALID;
          return;
        }
        await withService(o.dataDir, async (service) => {
          service.reconcile();
          let ids: string[];
          if (o.all)
            ids = service
              .listRuns()
              .map((r) => r.id)
              .reverse();
          else {
            const resolved = runs.map((a) => resolveRunId(service, a));
            const unknown = runs.filter((_, i) => !resolved[i]);
            if (unknown.length) {
              err(`starlab: no run ${unknown.map((u) => `"${u}"`).join(', ')}`);
              process.exitCode = 1;
              return;
            }
            ids = resolved as string[];
          }
          if (!ids.length) {
            err('starlab: there are no runs to export');
            process.exitCode = 1;
            return;
          }
          const r = service.exportBundleTo(ids, resolve(o.out), { checkpoints: o.checkpoints, overwrite: o.force, forceOption: '--force' });
          if (!r.ok) return fail(r, o.json);
          for (const w of r.warnings) err(`warning: ${w}`);
          const x = r.report;
          if (o.json) out(JSON.stringify({ ok: true, ...x }));
          else
            out(
              `${x.file}: ${x.runIds.length} run(s), ${x.files} file(s), ${fmtBytes(x.bytes)}${o.checkpoints ? '' : ' (without checkpoints)'}`,
            );
        });
      },
    );
  bundle
    .command('import')
    .description("add a bundle's runs to this data dir; runs already present are skipped, so importing twice adds nothing")
    .argument('<file>', 'bundle file')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (file: string, o: { json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        const r = service.importBundleFrom(resolve(file));
        if (!r.ok) return fail(r, o.json);
        const x = r.report;
        if (o.json) out(JSON.stringify({ ok: true, ...x }));
        else {
          for (const id of x.imported) out(`imported ${id}`);
          for (const s of x.skipped) out(`skipped ${s.id}: ${s.reason}`);
          err(`${x.imported.length} run(s) imported, ${x.skipped.length} skipped, ${x.files} file(s)`);
        }
      });
    });

  program
    .command('backup')
    .description(
      'copy the database (consistent while runs write) to FILE and check the copy; run directories are not included (use `bundle export --all`)',
    )
    .argument('<file>', 'backup file to write')
    .option('--force', 'overwrite FILE if it is an existing regular file (a link, folder, FIFO or device is refused regardless)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (file: string, o: { force?: boolean; json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        const r = await service.backupTo(resolve(file), { overwrite: o.force, forceOption: '--force' });
        if (!r.ok) return fail(r, o.json);
        const x = r.report;
        if (o.json) out(JSON.stringify({ ok: true, ...x }));
        else out(`${x.file}: ${fmtBytes(x.bytes)}, schema v${x.schemaVersion}, checked (${x.seconds.toFixed(1)} s)`);
      });
    });

  program
    .command('check')
    .description(
      'check the database for damage (PRAGMA quick_check and foreign_key_check) and for run directories it does not know; exit code 1 when damaged or when runs are missing from it',
    )
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { json?: boolean; dataDir?: string }) => {
      // (not through an open service: opening migrates the file, and a damaged one refuses to open)
      const r = await checkDataDir(resolveDataDir(o.dataDir));
      const { ok, file, exists, problems, seconds } = r;
      const unindexed = r.unindexedRuns;
      const missing = unindexed.length
        ? `${unindexed.length} run director${unindexed.length === 1 ? 'y is' : 'ies are'} not in the database (${unindexed.slice(0, 5).join(', ')}${unindexed.length > 5 ? ', …' : ''}): run \`starlab reindex\` to put them back`
        : null;
      if (o.json) out(JSON.stringify(r));
      else {
        if (!exists) err(`no database at ${file}`);
        else if (problems.length) err(new DatabaseDamagedError(file, problems).message);
        else if (!missing) out(`${file}: ok (${seconds.toFixed(1)} s)`);
        if (missing) err(`${file}: ${missing}`);
      }
      if (!ok) process.exitCode = 1;
    });

  program
    .command('reindex')
    .description(
      'rebuild the database from the run directories: every runs/<id>/ it does not know is put back through the normal ingest (config.json, run.json, events.jsonl, logs)',
    )
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        const r = await service.reindexRuns();
        if (!r.ok) return fail(r, o.json);
        if (o.json) out(JSON.stringify(r));
        else {
          for (const id of r.added) out(`reindexed ${id}${r.running.includes(id) ? ' (still running: watched again)' : ''}`);
          for (const s of r.skipped) err(`skipped ${s.id}: ${s.reason}`);
          err(
            `${r.added.length} run(s) put back (${r.events} events, ${r.groupsAdded.length} group(s)), ${r.skipped.length} skipped, ${r.seconds.toFixed(1)} s`,
          );
        }
      });
    });

  program
    .command('sync')
    .description(
      'bring runs written away from the lab into it: run directories of scripts in offline mode (starlab.init(mode="offline") → ./starlab-runs/<id>/) or copied from another machine; syncing a run again adds what its script wrote since',
    )
    .argument('<dir...>', 'a run directory, or a folder of them')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (dirs: string[], o: { json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        const r = await service.syncRuns(dirs);
        if (!r.ok) return fail(r, o.json);
        const { report } = r;
        if (o.json) out(JSON.stringify({ ok: true, ...report }));
        else {
          for (const id of report.added) out(`synced ${id}`);
          for (const u of report.updated) out(`synced ${u.id}: ${u.events} new event(s)`);
          for (const id of report.unchanged) out(`${id}: already in the lab, nothing new`);
          for (const s of report.skipped) err(`skipped ${s.path}: ${s.reason}`);
        }
        if (report.skipped.length && !report.added.length && !report.updated.length && !report.unchanged.length) process.exitCode = 1;
      });
    });
}
