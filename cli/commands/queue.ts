/** `starlab` commands: ablate, queue (registered by cli/main.ts). */
import { addExecutorOptions, executorSpecOf, type ExecutorFlags } from '../executor-options';
import { type Command } from 'commander';
import { parseSetArgs, type FieldError } from '../../shared/experiment-config';
import { splitList } from '../../shared/ablation';
import { out, err, refuse, collect, dataDirOption } from '../io';
import { withService } from '../service-scope';

export function register(program: Command): void {
  addExecutorOptions(program.command('ablate'))
    .description('queue an ablation: variants × datasets × seeds (× swept values), each config validated first')
    .requiredOption('--variants <list>', 'comma-separated variants, e.g. star,star-norat')
    .requiredOption('--datasets <list>', 'comma-separated datasets')
    .requiredOption('--seeds <list>', 'comma-separated seeds, e.g. 0,1,2')
    .requiredOption('--preset <preset>', 'preset (tiny, paper)')
    .option('--name <name>', 'the group name')
    .option('--set <key=value>', 'override for every run (repeatable)', collect, [] as string[])
    .option('--sweep <key=v1,v2>', 'sweep a config key over values (repeatable; combinations multiply)', collect, [] as string[])
    .option('--dry-run', 'print the expanded runs and exit')
    .option('--wait', 'run the queue here until every run of the group has ended; exit 0 only if all completed')
    .option('--json', 'machine-readable output: {"id": GROUP, "runs": [RUN, …]}')
    .addOption(dataDirOption())
    .action(
      async (
        o: {
          variants: string;
          datasets: string;
          seeds: string;
          preset: string;
          name?: string;
          set: string[];
          sweep: string[];
          dryRun?: boolean;
          wait?: boolean;
          json?: boolean;
          dataDir?: string;
        } & ExecutorFlags,
      ) => {
        const errors: FieldError[] = [];
        const seeds = splitList(o.seeds).map(Number);
        if (seeds.some((s) => !Number.isInteger(s) || s < 0))
          errors.push({ field: 'seeds', message: `seeds must be integers ≥ 0, got "${o.seeds}"` });
        const sets = parseSetArgs(o.set);
        errors.push(...sets.errors);
        // no prototype, as parseSetArgs: a key such as "__proto__" is kept (and refused by resolveConfig) rather than lost
        const grid = Object.create(null) as Record<string, string[]>;
        for (const s of o.sweep) {
          const i = s.indexOf('=');
          if (i <= 0) errors.push({ field: 'sweep', message: `expected key=v1,v2, got "${s}"` });
          else grid[s.slice(0, i).trim()] = splitList(s.slice(i + 1));
        }
        const executor = executorSpecOf(o);
        errors.push(...executor.errors);
        if (errors.length) return refuse(errors, o.json);
        const spec = {
          ...(executor.spec ? { executor: executor.spec } : {}),
          name: o.name,
          variants: splitList(o.variants),
          datasets: splitList(o.datasets),
          seeds,
          preset: o.preset,
          overrides: sets.overrides,
          grid,
        };
        // --wait runs the queue here: the service watches
        await withService(
          o.dataDir,
          async (service) => {
            if (o.dryRun) {
              const p = service.planAblation(spec);
              if (!p.ok) return refuse(p.errors, o.json);
              if (o.json) out(JSON.stringify(p));
              else {
                for (const r of p.runs) out(r.label);
                out(
                  `${p.runs.length} runs${p.estimatedSeconds !== null ? `, about ${Math.round(p.estimatedSeconds / 60)} min at the current concurrency (from earlier runs)` : ''}`,
                );
              }
              return;
            }
            const r = service.createAblation(spec);
            if (!r.ok) return refuse(r.errors, o.json);
            if (!o.wait) {
              out(
                o.json
                  ? JSON.stringify({ id: r.id, runs: r.runs })
                  : `${r.id}: ${r.runs.length} runs queued (they start while the app, \`starlab queue\` or an \`ablate --wait\` runs)`,
              );
              return;
            }
            if (!o.json)
              err(
                `group ${r.id}: ${r.runs.length} runs queued; running the queue (max ${service.getSettings().maxConcurrent || 'unlimited'} at once)`,
              );
            const onInt = () => {
              err(`stopping group ${r.id}: ${service.stopGroup(r.id).message}`);
            };
            process.once('SIGINT', onInt);
            const ended = new Set(['completed', 'failed', 'stopped']);
            const done = () => {
              const g = service.getGroup(r.id)!;
              return g.runs.every((x) => ended.has(x.status)) ? g : null;
            };
            let g = done();
            while (!g) {
              await new Promise((res) => setTimeout(res, 250));
              g = done();
            }
            process.off('SIGINT', onInt);
            if (o.json) out(JSON.stringify({ id: r.id, runs: r.runs, statuses: Object.fromEntries(g.runs.map((x) => [x.id, x.status])) }));
            else for (const x of g.runs) out(`${x.id} ${x.status} ${x.variant} ${x.dataset} seed ${x.seed}`);
            process.exitCode = g.runs.every((x) => x.status === 'completed') ? 0 : 1;
          },
          { watch: !!o.wait },
        );
      },
    );

  program
    .command('queue')
    .description('start queued runs (at most --max at once, one GPU slot each) until none is queued or running')
    .option('--max <n>', 'set the concurrency limit first (0: none)')
    .option('--gpus <slots>', 'set the GPU slots first: CUDA_VISIBLE_DEVICES values separated by spaces or commas, e.g. "0 1"')
    .addOption(dataDirOption())
    .action(async (o: { max?: string; gpus?: string; dataDir?: string }) => {
      await withService(
        o.dataDir,
        async (service) => {
          if (o.max !== undefined || o.gpus !== undefined) {
            const cur = service.getSettings();
            const max = o.max !== undefined ? Number(o.max) : cur.maxConcurrent;
            if (!Number.isInteger(max) || max < 0)
              return refuse([{ field: 'max', message: `expected an integer ≥ 0, got "${o.max}"` }], false);
            service.setQueueSettings({
              maxConcurrent: max,
              gpuSlots: o.gpus !== undefined ? o.gpus.split(/[\s,]+/).filter(Boolean) : cur.gpuSlots,
            });
          }
          const s = service.getSettings();
          err(
            `running the queue: max ${s.maxConcurrent || 'unlimited'} at once${s.gpuSlots.length ? `, GPU slots ${s.gpuSlots.join(' ')}` : ''}`,
          );
          const busy = () => service.listRuns().some((x) => x.status === 'queued' || x.status === 'running');
          while (busy()) await new Promise((res) => setTimeout(res, 500));
          err('the queue is empty');
        },
        { watch: true },
      );
    });
}
