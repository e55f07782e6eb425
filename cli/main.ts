/**
 * The `starlab` command line (bundled to out/main/cli.js; bin/starlab.js runs it):
 *   starlab launch --variant V --dataset D --preset P [--seed N] [--set key=value]… [--wait] [--json]
 *   starlab list [--json]
 *   starlab show RUN [--json]
 *   starlab stop RUN [--no-wait]
 *   starlab resume RUN [--wait] [--json]
 *   starlab import-data --dataset gsm8k|commonsenseqa --train F --eval F [--json]
 *   starlab ablate --variants a,b --datasets d --seeds 0,1,2 --preset P [--set k=v]… [--sweep k=v1,v2]… [--wait] [--json]
 *   starlab queue [--max N] [--gpus 0,1]   run the queue until it is empty
 *   starlab traces RUN [--iteration N] [--filter newly-solved|forgotten|never-solved|rationalized-only] [--search TEXT] [--json]
 *   starlab curves RUN --kind best-of-k|majority|pass-at-k [--iteration N] [--scorer dpo|orm|logp] [--json]
 *   starlab ratings [--task N] [--csv FILE [--force]] [--json]   blind rationale ratings: summary and CSV
 *   starlab export GROUP [--format svg,pdf,png,csv,tex,pgf,py] --out DIR [--force] [--preset single-column|double-column] [--font-family serif|sans-serif] [--font-size PT] [--json]
 *   starlab bundle export RUN… -o FILE [--all] [--no-checkpoints] [--force] [--json]   runs (rows + directories) to one portable file
 *   starlab bundle import FILE [--json]   add a bundle's runs (those already present are skipped)
 *   starlab backup FILE [--force] [--json]   an online, checked copy of the database
 *   starlab check [--json]                   integrity, and run directories the database does not know
 *   starlab reindex [--json]                 put those run directories back (the normal ingest)
 *   starlab serve [--host H] [--port P]
 * Every command takes --data-dir (else STARLAB_DATA_DIR, else the platform's app-data dir).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { MetricPoint, RunDetail, RunSummary } from '../shared/contract';
import { parseSetArgs, type FieldError, type LaunchSpec } from '../shared/experiment-config';
import { splitList } from '../shared/ablation';
import { databasePath, resolveDataDir } from '../core/paths';
import { checkIntegrityInBackground, DatabaseDamagedError } from '../db/open';
import { createService, type Service } from '../core/service';
import { EXPORT_PRESETS, isPresetName } from '../shared/export/model';
import { CURVE_KINDS, CURVE_SCORERS, TRACE_FILTERS, type TraceFilter } from '../shared/contract';
import { EXPORT_FORMATS, exportPreset, groupFiles, type ExportFormat } from '../core/export-files';
import { parsePort, serve } from '../server/serve';
import { version } from '../package.json';
import { backupDatabase, exportBundle, importBundle } from '../core/bundle';
import { unindexedRunDirs } from '../core/reindex';
import { transientDbError } from '../core/supervisor';
import Database from 'better-sqlite3';
import { fsErrorMessage } from '../core/fs-errors';
import { writeFileSafely, writeFilesSafely } from '../core/safe-write';

/** Exit status for a refused (invalid) launch. */
export const EXIT_INVALID = 2;

function openService(dataDir: string | undefined): Service {
  return createService({ dataDir: resolveDataDir(dataDir), watch: false });
}

/** Wait for a run to end (first Ctrl-C stops it, the second stops waiting), then print it. */
async function waitAndShow(service: Service, id: string, json: boolean | undefined): Promise<void> {
  let interrupts = 0;
  const onInt = () => {
    interrupts++;
    if (interrupts === 1) {
      const s = service.stopRun(id);
      err(`${s.message} — press Ctrl-C again to stop waiting (the run keeps going)`);
    } else {
      err(`no longer waiting; the run continues (starlab show ${id})`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onInt);
  // A lock held by another process or a full disk does not end the wait: say so once per cause
  // and keep following (the child's exit code is kept until it can be recorded).
  const onWait = (why: string) => err(`waiting: ${why}; the run goes on and is still followed (Ctrl-C stops it)`);
  const progress = json ? null : setInterval(() => reportProgress(service, id), 1000);
  let d: RunDetail | null;
  try {
    d = await service.waitForRun(id, { onWait });
  } finally {
    if (progress) clearInterval(progress);
    process.off('SIGINT', onInt);
  }
  if (!d) throw new Error(`run ${id} vanished`);
  out(json ? JSON.stringify(showObject(d, allMetricPoints(service, id)), null, 2) : showText(d));
  process.exitCode = d.status === 'completed' ? 0 : 1;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

function printFieldErrors(errors: FieldError[]): void {
  for (const e of errors) err(`error: ${e.field}: ${e.message}`);
}

/** An exact run id, or a unique prefix of one. */
function resolveRunId(service: Service, arg: string): string | null {
  const runs = service.listRuns();
  if (runs.some((r) => r.id === arg)) return arg;
  const matches = runs.filter((r) => r.id.startsWith(arg));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length > 1) err(`"${arg}" matches ${matches.length} runs: ${matches.slice(0, 5).map((r) => r.id).join(', ')}…`);
  return null;
}

/**
 * Open the service, reconcile, and call `body` with the run `arg` names (an id or a unique
 * prefix); exit 1 naming it when there is none. The service is closed after.
 */
async function withRun(dataDir: string | undefined, arg: string, body: (service: Service, id: string) => void | Promise<void>): Promise<void> {
  const service = openService(dataDir);
  try {
    service.reconcile();
    const id = resolveRunId(service, arg);
    if (!id) {
      err(`starlab: no run "${arg}"`);
      process.exitCode = 1;
      return;
    }
    await body(service, id);
  } finally {
    service.close();
  }
}

/**
 * Every point of every metric of a run, exact: getRun's metrics are bounded (downsampled past
 * 2,000 points a name), so `show --json` pages through getMetricPoints instead (local, no limit).
 */
export function allMetricPoints(service: Pick<Service, 'metricNames' | 'getMetricPoints'>, id: string): Record<string, MetricPoint[]> {
  const out: Record<string, MetricPoint[]> = {};
  for (const { name } of service.metricNames([id])) {
    const pts: MetricPoint[] = [];
    let after: { step: number; seq: number } | undefined;
    do {
      const page = service.getMetricPoints(id, { name, ...(after ? { after } : {}) });
      if (!page) break;
      pts.push(...page.points);
      after = page.next ?? undefined;
    } while (after);
    out[name] = pts;
  }
  return out;
}

/** The object `show --json` prints; `metrics`: every point (allMetricPoints), else the detail's (bounded) ones. */
export function showObject(d: RunDetail, allPoints: Record<string, MetricPoint[]> = d.metrics) {
  const metrics: Record<string, { iteration: number; step: number; value: number }[]> = {};
  for (const [name, pts] of Object.entries(allPoints)) metrics[name] = pts.map((p) => ({ iteration: p.iteration, step: p.step, value: p.value }));
  const end = d.endedAt ?? (d.status === 'running' ? Date.now() / 1000 : null);
  return {
    id: d.id,
    status: d.status,
    statusReason: d.statusReason,
    variant: d.variant,
    dataset: d.dataset,
    preset: d.preset,
    seed: d.seed,
    model: d.model,
    config: d.config,
    configHash: d.configHash,
    metrics,
    latestAccuracy: d.latestAccuracy,
    createdAt: d.createdAt,
    startedAt: d.startedAt,
    endedAt: d.endedAt,
    durationS: d.startedAt != null && end != null ? Math.round((end - d.startedAt) * 1000) / 1000 : null,
    currentIteration: d.currentIteration,
    currentPhase: d.currentPhase,
    progressDone: d.progressDone,
    progressTotal: d.progressTotal,
    phases: d.phases,
    artifacts: d.artifacts,
    env: d.env,
    hashes: d.hashes,
    runDir: d.runDir,
    pid: d.pid,
    exitCode: d.exitCode,
    signal: d.signal,
    stderrTail: d.stderrTail,
    malformedLines: d.malformedLines,
    unknownEvents: d.unknownEvents,
  };
}

const fmtTime = (t: number | null) => (t == null ? '-' : new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19));
const fmtNum = (v: number | null | undefined, digits = 4) => (v == null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(digits));

function showText(d: RunDetail): string {
  const o = showObject(d);
  const lines = [
    `run        ${o.id}`,
    `status     ${o.status}${o.statusReason ? ` (${o.statusReason})` : ''}`,
    `experiment ${o.variant} / ${o.dataset} / ${o.preset}  seed ${o.seed}  model ${o.model}`,
    `created    ${fmtTime(o.createdAt)}   started ${fmtTime(o.startedAt)}   ended ${fmtTime(o.endedAt)}   duration ${o.durationS == null ? '-' : `${o.durationS.toFixed(1)} s`}`,
  ];
  if (o.status === 'running')
    lines.push(`position   iteration ${o.currentIteration ?? '-'} ${o.currentPhase ?? ''} ${o.progressTotal ? `${o.progressDone}/${o.progressTotal}` : ''}`.trimEnd());
  lines.push(`run dir    ${o.runDir}`);
  if (o.malformedLines || o.unknownEvents) lines.push(`ingest     ${o.malformedLines} malformed lines, ${o.unknownEvents} unknown events`);
  const names = Object.keys(o.metrics);
  if (names.length) {
    lines.push('metrics');
    const w = Math.max(...names.map((n) => n.length));
    for (const n of names) {
      const pts = o.metrics[n]!;
      const last = pts[pts.length - 1]!;
      lines.push(`  ${n.padEnd(w)}  ${fmtNum(last.value)}  (iteration ${last.iteration}, step ${last.step}; ${d.metricCounts?.[n] ?? pts.length} points)`);
    }
    if (d.metricNamesOmitted) lines.push(`  … and ${d.metricNamesOmitted} more metrics (show --json prints them all)`);
  }
  if (o.artifacts.length) {
    lines.push('artifacts');
    for (const a of o.artifacts) lines.push(`  ${a.name} (${a.kind}) ${a.path}`);
  }
  if (o.stderrTail && o.status !== 'completed') {
    lines.push('stderr (tail)');
    const tail = o.stderrTail.trimEnd().split('\n').slice(-15);
    for (const l of tail) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}

function listText(runs: RunSummary[]): string {
  if (!runs.length) return 'no runs';
  const rows = [
    ['ID', 'STATUS', 'VARIANT', 'DATASET', 'PRESET', 'SEED', 'ACCURACY', 'PROGRESS', 'CREATED'],
    ...runs.map((r) => [
      r.id,
      r.status,
      r.variant,
      r.dataset,
      r.preset,
      String(r.seed),
      fmtNum(r.latestAccuracy),
      r.status === 'running' ? `it ${r.currentIteration ?? '-'} ${r.currentPhase ?? ''}`.trim() : '',
      fmtTime(r.createdAt),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (default: $STARLAB_DATA_DIR or the platform app-data dir)');

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('starlab')
    .description('STaR Lab: launch and track self-taught-reasoning experiments')
    .version(version)
    .showHelpAfterError();

  program
    .command('launch')
    .description('validate a config and start a run; prints the run id')
    .requiredOption('--variant <variant>', 'experiment variant (e.g. star)')
    .requiredOption('--dataset <dataset>', 'dataset (e.g. addition)')
    .requiredOption('--preset <preset>', 'preset (e.g. tiny, paper)')
    .option('--seed <n>', 'random seed')
    .option('--set <key=value>', 'override a config value by dotted path (repeatable)', collect, [] as string[])
    .option('--wait', 'wait for the run to end, then print what `show` prints; exit 0 only if it completed')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { variant: string; dataset: string; preset: string; seed?: string; set: string[]; wait?: boolean; json?: boolean; dataDir?: string }) => {
      const errors: FieldError[] = [];
      let seed: number | undefined;
      if (o.seed !== undefined) {
        seed = Number(o.seed);
        if (o.seed.trim() === '' || !Number.isInteger(seed)) errors.push({ field: 'seed', message: `seed must be an integer, got "${o.seed}"` });
      }
      const sets = parseSetArgs(o.set);
      errors.push(...sets.errors);
      if (errors.length) return refuse(errors, o.json);
      const spec: LaunchSpec = { variant: o.variant, dataset: o.dataset, preset: o.preset, seed, overrides: sets.overrides };
      const service = openService(o.dataDir);
      try {
        const r = await service.launchRun(spec);
        if (!r.ok) return refuse(r.errors, o.json);
        for (const w of r.warnings ?? []) err(`warning: ${w.field}: ${w.message}`);
        if (!o.wait) {
          out(o.json ? JSON.stringify({ id: r.id }) : r.id);
          return;
        }
        if (!o.json) err(`launched ${r.id}; waiting for it to end (Ctrl-C stops the run)`);
        await waitAndShow(service, r.id, o.json);
      } finally {
        service.close();
      }
    });

  program
    .command('list')
    .description('list runs (newest first)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action((o: { json?: boolean; dataDir?: string }) => {
      const service = openService(o.dataDir);
      try {
        service.reconcile();
        const runs = service.listRuns();
        out(o.json ? JSON.stringify(runs, null, 2) : listText(runs));
        const missing = service.getDataInfo().unindexedRuns.total;
        if (missing) err(`note: ${missing} run director${missing === 1 ? 'y is' : 'ies are'} in ${service.dataDir} but not in the database: \`starlab reindex\` puts them back`);
      } finally {
        service.close();
      }
    });

  program
    .command('show')
    .description('show one run: status, config, metrics, timing')
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action((run: string, o: { json?: boolean; dataDir?: string }) => {
      const service = openService(o.dataDir);
      try {
        service.reconcile();
        const id = resolveRunId(service, run);
        const d = id ? service.getRun(id) : null;
        if (!d) {
          err(`starlab: no run "${run}"`);
          process.exitCode = 1;
          return;
        }
        out(o.json ? JSON.stringify(showObject(d, allMetricPoints(service, d.id)), null, 2) : showText(d));
      } finally {
        service.close();
      }
    });

  program
    .command('traces')
    .description("a run's rationale traces: per question and iteration the rationale, answer, gold, outcome and whether the hint was given")
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--iteration <n>', 'only this iteration')
    .option('--filter <filter>', TRACE_FILTERS.join(' | '))
    .option('--search <text>', 'questions or rationales containing this text (case-insensitive)')
    .option('--question <id>', 'one question only (its rows across iterations)')
    .option('--split <split>', 'train | eval')
    .option('--difficulty <d>', 'only this difficulty (addition: digits)')
    .option('--limit <n>', 'at most this many rows (1-5000)', '200')
    .option('--offset <n>', 'skip this many rows', '0')
    .option('--json', 'print the rows as a JSON array')
    .addOption(dataDirOption())
    .action(
      async (
        run: string,
        o: { iteration?: string; filter?: string; search?: string; question?: string; split?: string; difficulty?: string; limit: string; offset: string; json?: boolean; dataDir?: string },
      ) => {
        const errors: FieldError[] = [];
        const int = (field: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isInteger(n) || n < min || n > max) errors.push({ field, message: `"${v}" is not an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '' : max}` });
          return n;
        };
        const iteration = int('iteration', o.iteration, 0);
        const difficulty = int('difficulty', o.difficulty, -1_000_000);
        const limit = int('limit', o.limit, 1, 5000);
        const offset = int('offset', o.offset, 0);
        if (o.filter !== undefined && !(TRACE_FILTERS as readonly string[]).includes(o.filter))
          errors.push({ field: 'filter', message: `unknown filter "${o.filter}" (${TRACE_FILTERS.join(', ')})` });
        if (o.split !== undefined && o.split !== 'train' && o.split !== 'eval') errors.push({ field: 'split', message: `unknown split "${o.split}" (train, eval)` });
        if (o.question !== undefined && !(o.question.length >= 1 && o.question.length <= 200))
          errors.push({ field: 'question', message: 'a question id is 1 to 200 characters' });
        if (errors.length) return refuse(errors, o.json);
        await withRun(o.dataDir, run, async (service, id) => {
          const r = service.getTraces(id, {
            ...(o.filter ? { filter: o.filter as TraceFilter } : {}),
            ...(iteration !== undefined ? { iteration } : {}),
            ...(o.split ? { split: o.split as 'train' | 'eval' } : {}),
            ...(difficulty !== undefined ? { difficulty } : {}),
            ...(o.search ? { search: o.search } : {}),
            ...(o.question !== undefined ? { questionId: o.question } : {}),
            limit,
            offset,
          });
          if (r.rows.length < r.total || r.totalCapped)
            err(`rows ${offset! + 1}-${offset! + r.rows.length} of ${r.total}${r.totalCapped ? '+' : ''} (--limit, --offset for more)`);
          if (o.json) {
            out(JSON.stringify(r.rows));
            return;
          }
          if (!r.rows.length) out('no matching rows');
          for (const t of r.rows) {
            out(
              `${t.questionId}  iteration ${t.iteration}  ${t.split}/${t.kind}  answer ${t.answer ?? '—'}  gold ${t.gold}  ${t.correct ? 'correct' : 'wrong'}${t.viaHint ? '  via hint' : ''}`,
            );
            out(t.rationale.replace(/^/gm, '    '));
          }
        });
      },
    );

  program
    .command('curves')
    .description("V-STaR's test-time curves for k = 1..N, recounted from the run's stored candidates")
    .argument('<run>', 'run id (or a unique prefix)')
    .requiredOption('--kind <kind>', CURVE_KINDS.join(' | '))
    .option('--iteration <n>', 'iteration (default: the last with candidates)')
    .option('--scorer <scorer>', 'for best-of-k: dpo (the verifier) | orm | logp', 'dpo')
    .option('--json', 'print [{"k": k, "value": v}, …]')
    .addOption(dataDirOption())
    .action(async (run: string, o: { kind: string; iteration?: string; scorer: string; json?: boolean; dataDir?: string }) => {
      const errors: FieldError[] = [];
      if (!(CURVE_KINDS as readonly string[]).includes(o.kind)) errors.push({ field: 'kind', message: `unknown kind "${o.kind}" (${CURVE_KINDS.join(', ')})` });
      if (!Object.hasOwn(CURVE_SCORERS, o.scorer)) errors.push({ field: 'scorer', message: `unknown scorer "${o.scorer}" (${Object.keys(CURVE_SCORERS).join(', ')})` });
      const iteration = o.iteration === undefined ? undefined : Number(o.iteration);
      if (iteration !== undefined && !(Number.isInteger(iteration) && iteration >= 0)) errors.push({ field: 'iteration', message: `"${o.iteration}" is not an iteration number` });
      if (errors.length) return refuse(errors, o.json);
      await withRun(o.dataDir, run, async (service, id) => {
        const r = service.getCurve(id, {
          kind: o.kind as (typeof CURVE_KINDS)[number],
          ...(iteration !== undefined ? { iteration } : {}),
          ...(o.kind === 'best-of-k' ? { scorer: o.scorer as keyof typeof CURVE_SCORERS } : {}),
        });
        if (!r.ok) {
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
          return;
        }
        if (o.json) out(JSON.stringify(r.points));
        else {
          out(`${r.kind}${r.scorer ? ` (${r.scorer})` : ''}, iteration ${r.iteration}: ${r.questions} questions × ${r.candidates} candidates`);
          for (const p of r.points) out(`k=${String(p.k).padEnd(4)} ${(p.value * 100).toFixed(2)}%`);
        }
      });
    });

  program
    .command('ratings')
    .description('blind rationale ratings: per pair of sources the wins, win rate with its 95% CI and flagged shares; --csv writes every rating')
    .option('--task <id>', 'one rating task only')
    .option('--csv <file>', 'write the ratings (unblinded) as CSV to this file')
    .option('--force', 'replace the --csv file if it exists')
    .option('--json', 'print the summary rows as JSON')
    .addOption(dataDirOption())
    .action(async (o: { task?: string; csv?: string; force?: boolean; json?: boolean; dataDir?: string }) => {
      const task = o.task === undefined ? undefined : Number(o.task);
      if (task !== undefined && !(Number.isInteger(task) && task >= 1)) return refuse([{ field: 'task', message: `"${o.task}" is not a task id` }], o.json);
      const service = openService(o.dataDir);
      try {
        if (task !== undefined && !(await service.listRatingTasks()).some((t) => t.id === task)) {
          if (o.json) out(JSON.stringify({ ok: false, message: `no rating task ${task}` }));
          err(`starlab: no rating task ${task}`);
          process.exitCode = 1;
          return;
        }
        if (o.csv) {
          const r = await service.exportRatings(task);
          if (!r.ok) throw new Error(r.message);
          try {
            writeFileSafely(resolve(o.csv), Buffer.from(r.files[0]!.base64, 'base64'), { overwrite: o.force, force: '--force', suggest: 'ratings.csv' });
          } catch (e) {
            throw new Error(fsErrorMessage(e, { action: 'write the ratings CSV', path: resolve(o.csv), suggest: 'ratings.csv', force: '--force' }));
          }
          err(`wrote ${resolve(o.csv)}`);
        }
        const rows = await service.ratingSummary(task);
        if (o.json) return out(JSON.stringify(rows));
        if (!rows.length) return out('no ratings yet');
        const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
        for (const r of rows)
          out(
            `${r.a}  vs  ${r.b} (${r.split}): ${r.n} rated, A wins ${r.winsA}, B wins ${r.winsB}, both ${r.both}, neither ${r.neither}; ` +
              `A's win rate ${pct(r.winRateA)} [${pct(r.ciLow)}, ${pct(r.ciHigh)}]; flagged A ${pct(r.flaggedShareA)}, B ${pct(r.flaggedShareB)}; raters ${r.raters.join(', ')}`,
          );
      } finally {
        service.close();
      }
    });

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
        const since = (service.db.prepare('SELECT coalesce(max(id), 0) AS m FROM logs WHERE run_id = ?').get(id) as { m: number }).m;
        await waitAndShow(service, id, o.json);
        // a resume that failed before loading its checkpoint leaves the run as it was: say why
        const failed = service.getLogs(id, { afterId: since, limit: 5000 }).find((l) => l.source === 'supervisor' && l.message.startsWith('resume failed'));
        if (failed) err(`starlab: ${failed.message}`);
      });
    });

  program
    .command('ablate')
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
      async (o: {
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
      }) => {
        const errors: FieldError[] = [];
        const seeds = splitList(o.seeds).map(Number);
        if (seeds.some((s) => !Number.isInteger(s) || s < 0)) errors.push({ field: 'seeds', message: `seeds must be integers ≥ 0, got "${o.seeds}"` });
        const sets = parseSetArgs(o.set);
        errors.push(...sets.errors);
        // no prototype, as parseSetArgs: a key such as "__proto__" is kept (and refused by resolveConfig) rather than lost
        const grid = Object.create(null) as Record<string, string[]>;
        for (const s of o.sweep) {
          const i = s.indexOf('=');
          if (i <= 0) errors.push({ field: 'sweep', message: `expected key=v1,v2, got "${s}"` });
          else grid[s.slice(0, i).trim()] = splitList(s.slice(i + 1));
        }
        if (errors.length) return refuse(errors, o.json);
        const spec = {
          name: o.name,
          variants: splitList(o.variants),
          datasets: splitList(o.datasets),
          seeds,
          preset: o.preset,
          overrides: sets.overrides,
          grid,
        };
        const service = o.wait
          ? createService({ dataDir: resolveDataDir(o.dataDir), watch: true })
          : openService(o.dataDir);
        try {
          if (o.dryRun) {
            const p = service.planAblation(spec);
            if (!p.ok) return refuse(p.errors, o.json);
            if (o.json) out(JSON.stringify(p));
            else {
              for (const r of p.runs) out(r.label);
              out(`${p.runs.length} runs${p.estimatedSeconds !== null ? `, about ${Math.round(p.estimatedSeconds / 60)} min at the current concurrency (from earlier runs)` : ''}`);
            }
            return;
          }
          const r = service.createAblation(spec);
          if (!r.ok) return refuse(r.errors, o.json);
          if (!o.wait) {
            out(o.json ? JSON.stringify({ id: r.id, runs: r.runs }) : `${r.id}: ${r.runs.length} runs queued (they start while the app, \`starlab queue\` or an \`ablate --wait\` runs)`);
            return;
          }
          if (!o.json) err(`group ${r.id}: ${r.runs.length} runs queued; running the queue (max ${service.getSettings().maxConcurrent || 'unlimited'} at once)`);
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
        } finally {
          service.close();
        }
      },
    );

  program
    .command('queue')
    .description('start queued runs (at most --max at once, one GPU slot each) until none is queued or running')
    .option('--max <n>', 'set the concurrency limit first (0: none)')
    .option('--gpus <slots>', 'set the GPU slots first: CUDA_VISIBLE_DEVICES values separated by spaces or commas, e.g. "0 1"')
    .addOption(dataDirOption())
    .action(async (o: { max?: string; gpus?: string; dataDir?: string }) => {
      const service = createService({ dataDir: resolveDataDir(o.dataDir), watch: true });
      try {
        if (o.max !== undefined || o.gpus !== undefined) {
          const cur = service.getSettings();
          const max = o.max !== undefined ? Number(o.max) : cur.maxConcurrent;
          if (!Number.isInteger(max) || max < 0) return refuse([{ field: 'max', message: `expected an integer ≥ 0, got "${o.max}"` }], false);
          service.setQueueSettings({ maxConcurrent: max, gpuSlots: o.gpus !== undefined ? o.gpus.split(/[\s,]+/).filter(Boolean) : cur.gpuSlots });
        }
        const s = service.getSettings();
        err(`running the queue: max ${s.maxConcurrent || 'unlimited'} at once${s.gpuSlots.length ? `, GPU slots ${s.gpuSlots.join(' ')}` : ''}`);
        const busy = () => service.listRuns().some((x) => x.status === 'queued' || x.status === 'running');
        while (busy()) await new Promise((res) => setTimeout(res, 500));
        err('the queue is empty');
      } finally {
        service.close();
      }
    });

  program
    .command('import-data')
    .description("validate a dataset's JSONL files and copy them into the data dir, where runs find them")
    .requiredOption('--dataset <name>', 'gsm8k or commonsenseqa')
    .requiredOption('--train <file>', 'training split (JSONL, CSV or TSV)')
    .requiredOption('--eval <file>', 'evaluation split (JSONL, CSV or TSV: GSM8K test, CommonsenseQA dev)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { dataset: string; train: string; eval: string; json?: boolean; dataDir?: string }) => {
      if (o.dataset !== 'gsm8k' && o.dataset !== 'commonsenseqa') {
        refuse([{ field: 'dataset', message: `"${o.dataset}" cannot be imported (gsm8k, commonsenseqa)` }], o.json);
        return;
      }
      const service = openService(o.dataDir);
      try {
        const r = await service.importDataset({ dataset: o.dataset, train: resolve(o.train), eval: resolve(o.eval) });
        if (o.json) out(JSON.stringify(r));
        if (!r.ok) {
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
        } else if (!o.json) out(r.message);
      } finally {
        service.close();
      }
    });

  program
    .command('export')
    .description("write a group's figure set for a paper: SVG, PDF, PNG (2x, 3x), CSV, LaTeX table, pgfplots (.tex), matplotlib (.py)")
    .argument('<group>', 'group id (or a unique prefix)')
    .option('--format <list>', `comma-separated: ${EXPORT_FORMATS.join(', ')}`, EXPORT_FORMATS.join(','))
    .requiredOption('--out <dir>', 'directory to write into (created if missing)')
    .option('--preset <preset>', `figure size: ${Object.keys(EXPORT_PRESETS).join(' | ')}`, 'single-column')
    .option('--font-family <family>', 'serif (Tinos, Times metrics) | sans-serif (Arimo, Arial metrics); default: the preset\'s')
    .option('--font-size <pt>', "text size in points (5-14); default: the preset's")
    .option('--force', 'replace files of the same names in DIR (default: refuse, writing nothing)')
    .option('--json', 'machine-readable output: {"ok": true, "group": ID, "files": [PATH, …], "skipped": […]}')
    .addOption(dataDirOption())
    .action((group: string, o: { format: string; out: string; preset: string; fontFamily?: string; fontSize?: string; force?: boolean; json?: boolean; dataDir?: string }) => {
      const formats = splitList(o.format);
      const errors: FieldError[] = [];
      const unknown = formats.filter((f) => !EXPORT_FORMATS.includes(f as ExportFormat));
      if (unknown.length) errors.push({ field: 'format', message: `unknown format ${unknown.map((f) => `"${f}"`).join(', ')} (available: ${EXPORT_FORMATS.join(', ')})` });
      if (!formats.length) errors.push({ field: 'format', message: 'no format given' });
      if (!isPresetName(o.preset)) errors.push({ field: 'preset', message: `unknown preset "${o.preset}" (${Object.keys(EXPORT_PRESETS).join(', ')})` });
      if (o.fontFamily !== undefined && o.fontFamily !== 'serif' && o.fontFamily !== 'sans-serif')
        errors.push({ field: 'font-family', message: `unknown font family "${o.fontFamily}" (serif, sans-serif)` });
      const fontPt = o.fontSize === undefined ? undefined : Number(o.fontSize);
      if (fontPt !== undefined && !(Number.isFinite(fontPt) && fontPt >= 5 && fontPt <= 14)) errors.push({ field: 'font-size', message: `font size "${o.fontSize}" is not a number of points in 5-14` });
      if (errors.length || !isPresetName(o.preset)) return refuse(errors, o.json);
      const preset = exportPreset({ preset: o.preset, fontFamily: o.fontFamily as 'serif' | 'sans-serif' | undefined, fontPt });
      const service = openService(o.dataDir);
      try {
        service.reconcile();
        const groups = service.listGroups();
        const exact = groups.find((g) => g.id === group);
        const matches = exact ? [exact] : groups.filter((g) => g.id.startsWith(group));
        if (matches.length !== 1) {
          const message = matches.length ? `"${group}" matches ${matches.length} groups: ${matches.slice(0, 5).map((g) => g.id).join(', ')}` : `no group "${group}"`;
          if (o.json) out(JSON.stringify({ ok: false, message }));
          err(`starlab: ${message}`);
          process.exitCode = 1;
          return;
        }
        const r = groupFiles(service, matches[0]!.id, formats as ExportFormat[], preset);
        const skipped = r.ok ? r.export.skipped : r.skipped;
        for (const s of skipped) err(`warning: run ${s.id} left out: ${s.reason}`);
        if (!r.ok) {
          if (o.json) out(JSON.stringify({ ok: false, message: r.message, skipped }));
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
          return;
        }
        const dir = resolve(o.out);
        let files: string[];
        try {
          // no link inside DIR is written through; existing files only with --force; each file complete or not at all
          files = writeFilesSafely(dir, r.files, { overwrite: o.force, force: '--force' });
        } catch (e) {
          const message = fsErrorMessage(e, { action: 'export the figures', path: dir, want: 'folder', force: '--force' });
          if (o.json) out(JSON.stringify({ ok: false, message, skipped }));
          err(`starlab: ${message}`);
          process.exitCode = 1;
          return;
        }
        if (o.json) out(JSON.stringify({ ok: true, group: r.export.groupId, files, skipped }));
        else for (const f of files) out(f);
      } finally {
        service.close();
      }
    });

  const bundle = program.command('bundle').description('portable run bundles: export runs (database rows and run directories) to one file, import them elsewhere');
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
    .action((runs: string[], o: { out: string; all?: boolean; checkpoints: boolean; force?: boolean; json?: boolean; dataDir?: string }) => {
      if (!o.all && !runs.length) {
        err('starlab: name the runs to export, or --all');
        process.exitCode = EXIT_INVALID;
        return;
      }
      const service = openService(o.dataDir);
      try {
        service.reconcile();
        let ids: string[];
        if (o.all) ids = service.listRuns().map((r) => r.id).reverse();
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
        const r = exportBundle(service.db, service.dataDir, ids, resolve(o.out), { checkpoints: o.checkpoints, overwrite: o.force, forceOption: '--force' });
        for (const id of r.missingDirs) err(`warning: run ${id} has no run directory; only its database rows are in the bundle`);
        for (const f of r.skippedFiles) err(`warning: ${f} left out (not a regular file)`);
        for (const w of r.warnings) err(`warning: ${w}`);
        if (o.json) out(JSON.stringify({ ok: true, ...r }));
        else out(`${r.file}: ${r.runIds.length} run(s), ${r.files} file(s), ${fmtBytes(r.bytes)}${o.checkpoints ? '' : ' (without checkpoints)'}`);
      } finally {
        service.close();
      }
    });
  bundle
    .command('import')
    .description("add a bundle's runs to this data dir; runs already present are skipped, so importing twice adds nothing")
    .argument('<file>', 'bundle file')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action((file: string, o: { json?: boolean; dataDir?: string }) => {
      const service = openService(o.dataDir);
      try {
        const r = importBundle(service.db, service.dataDir, resolve(file));
        if (o.json) out(JSON.stringify({ ok: true, ...r }));
        else {
          for (const id of r.imported) out(`imported ${id}`);
          for (const s of r.skipped) out(`skipped ${s.id}: ${s.reason}`);
          err(`${r.imported.length} run(s) imported, ${r.skipped.length} skipped, ${r.files} file(s)`);
        }
      } finally {
        service.close();
      }
    });

  program
    .command('backup')
    .description('copy the database (consistent while runs write) to FILE and check the copy; run directories are not included (use `bundle export --all`)')
    .argument('<file>', 'backup file to write')
    .option('--force', 'overwrite FILE if it is an existing regular file (a link, folder, FIFO or device is refused regardless)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (file: string, o: { force?: boolean; json?: boolean; dataDir?: string }) => {
      const service = openService(o.dataDir);
      try {
        const r = await backupDatabase(service.db, resolve(file), { overwrite: o.force, forceOption: '--force' });
        if (o.json) out(JSON.stringify({ ok: true, ...r }));
        else out(`${r.file}: ${fmtBytes(r.bytes)}, schema v${r.schemaVersion}, checked (${r.seconds.toFixed(1)} s)`);
      } finally {
        service.close();
      }
    });

  program
    .command('check')
    .description(
      'check the database for damage (PRAGMA quick_check and foreign_key_check) and for run directories it does not know; exit code 1 when damaged or when runs are missing from it',
    )
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .action(async (o: { json?: boolean; dataDir?: string }) => {
      const dataDir = resolveDataDir(o.dataDir);
      const file = databasePath(dataDir);
      const started = Date.now();
      const exists = existsSync(file);
      const problems = exists ? await checkIntegrityInBackground(file) : [];
      const seconds = (Date.now() - started) / 1000;
      // run directories the database has no row for (all of them when there is no database)
      let unindexed: string[] = [];
      if (!problems.length) {
        const db = exists ? new Database(file, { readonly: true, fileMustExist: true }) : new Database(':memory:');
        try {
          if (!exists || db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").get() === undefined)
            db.exec('CREATE TEMP TABLE runs (id TEXT PRIMARY KEY)'); // an empty or new file: it knows no run
          unindexed = unindexedRunDirs(db, dataDir);
        } finally {
          db.close();
        }
      }
      const ok = exists && problems.length === 0 && unindexed.length === 0;
      const missing = unindexed.length
        ? `${unindexed.length} run director${unindexed.length === 1 ? 'y is' : 'ies are'} not in the database (${unindexed.slice(0, 5).join(', ')}${unindexed.length > 5 ? ', …' : ''}): run \`starlab reindex\` to put them back`
        : null;
      if (o.json) out(JSON.stringify({ ok, file, exists, problems, unindexedRuns: unindexed, seconds }));
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
      const service = openService(o.dataDir);
      try {
        const r = await service.reindexRuns();
        if (!r.ok) {
          if (o.json) out(JSON.stringify(r));
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
          return;
        }
        if (o.json) out(JSON.stringify(r));
        else {
          for (const id of r.added) out(`reindexed ${id}${r.running.includes(id) ? ' (still running: watched again)' : ''}`);
          for (const s of r.skipped) err(`skipped ${s.id}: ${s.reason}`);
          err(`${r.added.length} run(s) put back (${r.events} events, ${r.groupsAdded.length} group(s)), ${r.skipped.length} skipped, ${r.seconds.toFixed(1)} s`);
        }
      } finally {
        service.close();
      }
    });

  program
    .command('serve')
    .description('browser mode: serve the UI and API over HTTP')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free)', '5178')
    .option('--token <token>', 'access token the API requires on every interface (default $STARLAB_TOKEN, else a random one is printed)')
    .option('--no-token', 'no access token (loopback --host only): any local process or user could then run programs as you')
    .addOption(dataDirOption())
    .action(async (o: { host: string; port: string; token?: string | false; dataDir?: string }) => {
      // commander: --token T gives a string, --no-token gives false (the later of the two wins)
      await serve({ host: o.host, port: parsePort(o.port), dataDir: o.dataDir, ...(o.token === false ? { noToken: true } : o.token ? { token: o.token } : {}) });
    });

  return program;
}

function fmtBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : n < 2 ** 30 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 2 ** 30).toFixed(2)} GiB`;
}

function refuse(errors: FieldError[], json: boolean | undefined): void {
  if (json) out(JSON.stringify({ ok: false, errors }));
  printFieldErrors(errors);
  process.exitCode = EXIT_INVALID;
}

let lastProgress = '';
function reportProgress(service: Service, id: string): void {
  let r: RunSummary | undefined;
  try {
    r = service.listRuns().find((x) => x.id === id);
  } catch (e) {
    // locked or full: the follower waits it out and says so; a progress line can wait too
    const why = transientDbError(e);
    if (why === null) throw e;
    return;
  }
  if (!r || r.status !== 'running') return;
  const line = `iteration ${r.currentIteration ?? '-'} ${r.currentPhase ?? ''}${r.progressTotal ? ` ${r.progressDone}/${r.progressTotal}` : ''}${
    r.latestAccuracy != null ? `  eval/accuracy ${fmtNum(r.latestAccuracy)}` : ''
  }`;
  if (line !== lastProgress) err(line);
  lastProgress = line;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    // one sentence, no stack trace: file-system errors (EISDIR, ENOENT, ENOSPC, …) name the path and what to do
    err(`starlab: ${fsErrorMessage(e, { action: `run ${process.argv.slice(2).find((a) => !a.startsWith('-')) ?? 'the command'}` })}`);
    process.exitCode = 1;
  });
