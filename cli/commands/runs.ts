/** `starlab` commands: launch, list, show, stop, resume (registered by cli/main.ts). */
import { runLabelsPatch } from '../../shared/contract';
import { runName } from '../../shared/run-name';
import { addExecutorOptions, executorSpecOf, type ExecutorFlags } from '../executor-options';
import type { ExecutorSpec } from '../../shared/executor-spec';
import { type Command } from 'commander';
import { parseSetArgs, type FieldError, type LaunchSpec } from '../../shared/experiment-config';
import { out, err, refuse, collect, dataDirOption } from '../io';
import { resolveRunId, withRun, withService } from '../service-scope';
import { allMetricPoints, listText, showObject, showText, waitAndShow } from '../run-output';

export function register(program: Command): void {
  addExecutorOptions(program.command('launch'))
    .description('validate a config and start a run; prints the run id')
    .requiredOption('--variant <variant>', 'experiment variant (e.g. star)')
    .requiredOption('--dataset <dataset>', 'dataset (e.g. addition)')
    .requiredOption('--preset <preset>', 'preset (e.g. tiny, paper)')
    .option('--seed <n>', 'random seed')
    .option('--set <key=value>', 'override a config value by dotted path (repeatable)', collect, [] as string[])
    .option('--wait', 'wait for the run to end, then print what `show` prints; exit 0 only if it completed')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(
      async (
        o: {
          variant: string;
          dataset: string;
          preset: string;
          seed?: string;
          set: string[];
          wait?: boolean;
          json?: boolean;
          dataDir?: string;
        } & ExecutorFlags,
      ) => {
        const errors: FieldError[] = [];
        let seed: number | undefined;
        if (o.seed !== undefined) {
          seed = Number(o.seed);
          if (o.seed.trim() === '' || !Number.isInteger(seed))
            errors.push({ field: 'seed', message: `seed must be an integer, got "${o.seed}"` });
        }
        const sets = parseSetArgs(o.set);
        errors.push(...sets.errors);
        const executor = executorSpecOf(o);
        errors.push(...executor.errors);
        if (errors.length) return refuse(errors, o.json);
        const spec: LaunchSpec & { executor?: ExecutorSpec } = {
          variant: o.variant,
          dataset: o.dataset,
          preset: o.preset,
          seed,
          overrides: sets.overrides,
          ...(executor.spec ? { executor: executor.spec } : {}),
        };
        await withService(o.dataDir, async (service) => {
          const r = await service.launchRun(spec);
          if (!r.ok) return refuse(r.errors, o.json);
          for (const w of r.warnings ?? []) err(`warning: ${w.field}: ${w.message}`);
          if (!o.wait) {
            out(o.json ? JSON.stringify({ id: r.id }) : r.id);
            return;
          }
          if (!o.json) err(`launched ${r.id}; waiting for it to end (Ctrl-C stops the run)`);
          await waitAndShow(service, r.id, o.json);
        });
      },
    );

  program
    .command('list')
    .description('list runs (newest first)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        await service.adoptAnnouncedRuns(); // runs scripts registered (starlab.init)
        service.reconcile();
        const runs = service.listRuns();
        out(o.json ? JSON.stringify(runs, null, 2) : listText(runs));
        const missing = service.getDataInfo().unindexedRuns.total;
        if (missing)
          err(
            `note: ${missing} run director${missing === 1 ? 'y is' : 'ies are'} in ${service.dataDir} but not in the database: \`starlab reindex\` puts them back`,
          );
      });
    });

  program
    .command('show')
    .description('show one run: status, config, metrics, timing')
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (run: string, o: { json?: boolean; dataDir?: string }) => {
      await withService(o.dataDir, async (service) => {
        await service.adoptAnnouncedRuns();
        service.reconcile();
        const id = resolveRunId(service, run);
        const d = id ? service.getRun(id) : null;
        if (!d) {
          err(`starlab: no run "${run}"`);
          process.exitCode = 1;
          return;
        }
        out(o.json ? JSON.stringify(showObject(d, allMetricPoints(service, d.id)), null, 2) : showText(d));
      });
    });

  program
    .command('edit')
    .description("name a run, tag it, or note something about it (kept in the database and the run's run.json)")
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--name <name>', 'its name (shown wherever runs are listed)')
    .option('--default-name', 'back to the name made from its variant, dataset and seed')
    .option('--tag <tag>', 'add a tag (repeatable; or comma-separated)', collect, [])
    .option('--untag <tag>', 'remove a tag (repeatable; or comma-separated)', collect, [])
    .option('--notes <text>', 'its notes ("" clears them)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(
      async (
        run: string,
        o: { name?: string; defaultName?: boolean; tag: string[]; untag: string[]; notes?: string; json?: boolean; dataDir?: string },
      ) => {
        if (o.name !== undefined && o.defaultName)
          return refuse([{ field: 'name', message: '--name and --default-name contradict each other' }], o.json);
        const split = (xs: string[]) =>
          xs
            .flatMap((x) => x.split(','))
            .map((t) => t.trim())
            .filter(Boolean);
        await withRun(o.dataDir, run, async (service, id) => {
          const now = service.getRun(id)!;
          const remove = new Set(split(o.untag));
          const tags = [...now.tags.filter((t) => !remove.has(t)), ...split(o.tag).filter((t) => !remove.has(t))];
          const patch = runLabelsPatch.safeParse({
            ...(o.name !== undefined ? { name: o.name } : o.defaultName ? { name: null } : {}),
            ...(o.tag.length || o.untag.length ? { tags } : {}),
            ...(o.notes !== undefined ? { notes: o.notes === '' ? null : o.notes } : {}),
          });
          if (!patch.success)
            return refuse(
              patch.error.issues.map((i) => ({ field: i.path.join('.') || 'edit', message: i.message })),
              o.json,
            );
          if (!Object.keys(patch.data).length)
            return refuse(
              [{ field: 'edit', message: 'nothing to change: give --name, --default-name, --tag, --untag or --notes' }],
              o.json,
            );
          const r = service.editRun(id, patch.data);
          if (!r.ok) {
            if (o.json) out(JSON.stringify(r));
            err(`starlab: ${r.message}`);
            process.exitCode = 1;
            return;
          }
          const d = service.getRun(id)!;
          if (o.json) out(JSON.stringify({ ok: true, id, name: runName(d), tags: d.tags, notes: d.notes }));
          else out(`${id}  ${runName(d)}${d.tags.length ? `  [${d.tags.join(', ')}]` : ''}`);
        });
      },
    );

  program
    .command('stop')
    .description('stop a running run: SIGTERM to its process group, SIGKILL after the grace period')
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--no-wait', 'return right after sending SIGTERM')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (run: string, o: { wait: boolean; json?: boolean; dataDir?: string }) => {
      await withRun(o.dataDir, run, async (service, id) => {
        const r = service.stopRun(id);
        if (!r.ok) {
          if (o.json) out(JSON.stringify({ ok: false, message: r.message }));
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
          return;
        }
        if (!o.json) err(r.message);
        let status = service.getRun(id)?.status ?? null;
        if (o.wait) {
          const grace = service.getSettings().stopGraceMs;
          const d = await service.waitForRun(id, { timeoutMs: grace + 5000 });
          status = d?.status ?? null;
        }
        if (o.json) out(JSON.stringify({ ok: true, id, status, message: r.message }));
        else out(`${id} ${status}`);
      });
    });

  program
    .command('resume')
    .description('continue a stopped or failed run after its last completed iteration (same run, same config)')
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--wait', 'wait for the run to end, then print what `show` prints; exit 0 only if it completed')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (run: string, o: { wait?: boolean; json?: boolean; dataDir?: string }) => {
      await withRun(o.dataDir, run, async (service, id) => {
        const r = await service.resumeRun(id);
        if (!r.ok) {
          if (o.json) out(JSON.stringify({ ok: false, id, message: r.message }));
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
          return;
        }
        if (!o.wait) {
          if (o.json) out(JSON.stringify({ ok: true, id, message: r.message }));
          else out(r.message);
          return;
        }
        if (!o.json) err(`${r.message}; waiting for it to end (Ctrl-C stops the run)`);
        const since = service.lastLogId(id);
        await waitAndShow(service, id, o.json);
        // a resume that failed before loading its checkpoint leaves the run as it was: say why
        const failed = service
          .getLogs(id, { afterId: since, limit: 5000 })
          .find((l) => l.source === 'supervisor' && l.message.startsWith('resume failed'));
        if (failed) err(`starlab: ${failed.message}`);
      });
    });
}
