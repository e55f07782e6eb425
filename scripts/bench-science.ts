/**
 * Each paper's finding, at tiny scale, in the lab's own curves (issue 14 §5).
 *
 *   npm run bench:science -- [--seeds 0,1,2] [--only star,vstar,quiet] [--figures DIR]
 *                            [--data-dir DIR] [--json] [--budget-min 40]
 *
 * For each comparison in scripts/science/ (STaR vs its no-rationalization ablation, V-STaR's
 * Best-of-k against its baselines, Quiet-STaR's thoughts against the base and its
 * policy-weight-0 control) it runs an ablation through the lab's own CLI — `starlab ablate
 * … --wait` into a scratch data dir (or --data-dir, kept), one run at a time — reads every run
 * back with `starlab show --json`, and turns each seed's runs into one effect per finding.
 * It prints a table: the finding, its effect as mean ± sample std over seeds, each seed's effect,
 * and whether it holds (positive in every seed). With --json the last line of stdout is a JSON
 * array of {"finding", "holds", "effect", "std", "seeds"}. With --figures the groups' figures are
 * exported there by `starlab export` (seed bands), plus the comparisons' own figures (curves
 * over k) through the same renderer.
 *
 * Exits 1 if a run fails or the whole bench takes longer than --budget-min; a finding that does
 * not hold is reported, not an error.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { renderFigureFiles } from '../core/figure-render';
import { writeFilesSafely } from '../core/safe-write';
import { toCSV } from '../shared/export/csv';
import { runKey, summarise, type Comparison, type SeedRuns, type ShownRun } from './science/finding';

const ROOT = resolve(import.meta.dirname, '..');
const COMPARISONS = ['star', 'vstar', 'quiet'] as const;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const log = (s: string) => process.stderr.write(s + '\n');

/** `starlab ARGS…` (the real CLI); resolves with its exit code and output. */
function starlab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'starlab.js'), ...args],
      { cwd: ROOT, maxBuffer: 512 * 1024 * 1024 },
      (e, stdout, stderr) => {
        const code = e ? (typeof e.code === 'number' ? e.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

async function loadComparison(name: string): Promise<Comparison> {
  const mod = (await import(`./science/${name}.ts`)) as { comparison?: Comparison };
  if (!mod.comparison?.findings?.length) throw new Error(`scripts/science/${name}.ts exports no comparison with findings`);
  return mod.comparison;
}

export interface FindingResult {
  finding: string;
  holds: boolean;
  effect: number | null;
  std: number | null;
  seeds: (number | null)[];
  comparison: string;
  claim: string;
  unit: string;
  errors: string[];
}

async function runComparison(
  c: Comparison,
  seeds: number[],
  dataDir: string,
): Promise<{ runs: SeedRuns[]; groups: string[]; failed: string[]; wallS: number }> {
  const t0 = Date.now();
  const failed: string[] = [];
  const groups: string[] = [];
  const bySeed = new Map<number, SeedRuns>();
  const arms = c.arms ?? [c.sweep];
  for (const [i, sweep] of arms.entries()) {
    const args = [
      'ablate',
      '--variants',
      c.variants.join(','),
      '--datasets',
      c.dataset,
      '--seeds',
      seeds.join(','),
      '--preset',
      c.preset,
      '--name',
      `science: ${c.id}${arms.length > 1 ? ` (${i + 1}/${arms.length})` : ''}`,
      '--wait',
      '--json',
      '--data-dir',
      dataDir,
    ];
    for (const s of c.set) args.push('--set', s);
    for (const s of sweep) args.push('--sweep', s);
    log(`[${c.id}] starlab ${args.join(' ')}`);
    const r = await starlab(args);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    let group: { id: string; runs: string[]; statuses: Record<string, string> };
    try {
      group = JSON.parse(line) as typeof group;
    } catch {
      throw new Error(`[${c.id}] ablate printed no group (exit ${r.code}): ${(r.stdout + r.stderr).slice(-1500)}`);
    }
    groups.push(group.id);
    for (const id of Object.keys(group.statuses)) {
      const shown = await starlab(['show', id, '--json', '--data-dir', dataDir]);
      const run = JSON.parse(shown.stdout) as ShownRun;
      if (run.status !== 'completed') failed.push(`${id} (${run.variant}, seed ${run.seed}): ${run.status} ${run.statusReason ?? ''}`);
      const key = runKey(run, c.sweep);
      const at = bySeed.get(run.seed) ?? {};
      at[key] = run;
      bySeed.set(run.seed, at);
      log(`[${c.id}] seed ${run.seed} ${key}: ${run.status} in ${run.durationS?.toFixed(0) ?? '?'} s`);
    }
  }
  return { runs: seeds.map((s) => bySeed.get(s) ?? {}), groups, failed, wallS: (Date.now() - t0) / 1000 };
}

async function exportFigures(c: Comparison, groups: string[], runs: SeedRuns[], dataDir: string, dir: string): Promise<string[]> {
  const out = join(dir, c.id);
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  for (const [i, group] of groups.entries()) {
    // one group: its figures in DIR/<comparison>; several (arms): each in its own folder under it
    const groupOut = groups.length > 1 ? join(out, `group-${i + 1}`) : out;
    for (const metric of [undefined, ...(c.figureMetrics ?? [])]) {
      const args = ['export', group, '--format', 'svg,csv', '--out', groupOut, '--force', '--json', '--data-dir', dataDir];
      if (metric) args.push('--metric', metric);
      const r = await starlab(args);
      const res = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as { ok?: boolean; files?: string[]; message?: string };
      if (res.ok) written.push(...(res.files ?? []));
      else log(`[${c.id}] export ${metric ?? 'eval/accuracy'}: ${res.message ?? r.stderr}`);
    }
  }
  for (const { name, figure } of c.figures?.(runs) ?? []) {
    const files = [
      ...renderFigureFiles(figure, name, ['svg']),
      { name: `${name}.csv`, data: Buffer.from(toCSV(figure, { runs: true }), 'utf8') },
    ];
    written.push(...writeFilesSafely(out, files, { overwrite: true, force: '--force' }));
  }
  return written;
}

const fmt = (v: number | null, d = 3) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(d));

async function main(): Promise<number> {
  const seeds = arg('seeds', '0,1,2').split(',').map(Number);
  const only = arg('only', COMPARISONS.join(',')).split(',');
  const figuresDir = arg('figures', '');
  const budgetMin = Number(arg('budget-min', '40'));
  const keep = arg('data-dir', '');
  const unknown = only.filter((o) => !(COMPARISONS as readonly string[]).includes(o));
  if (unknown.length || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    log(`bench:science: unknown comparison ${unknown.join(', ')} (known: ${COMPARISONS.join(', ')}) or bad --seeds`);
    return 2;
  }
  process.env['STARLAB_DATASETS_DIR'] ??= resolve(ROOT, '..', 'shared', 'datasets');
  const dataDir = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), 'starlab-science-'));
  const t0 = Date.now();
  const results: FindingResult[] = [];
  let bad = 0;
  try {
    for (const name of only) {
      const c = await loadComparison(name);
      const r = await runComparison(c, seeds, dataDir);
      bad += r.failed.length;
      for (const f of r.failed) log(`[${c.id}] FAILED ${f}`);
      log(
        `[${c.id}] ${r.runs.reduce((n, s) => n + Object.keys(s).length, 0)} runs in ${(r.wallS / 60).toFixed(1)} min (group ${r.groups.join(', ')})`,
      );
      for (const f of c.findings) {
        const errors: string[] = [];
        const vals = r.runs.map((runs, i) => {
          try {
            const v = f.measure(runs);
            return Number.isFinite(v) ? v : (errors.push(`seed ${seeds[i]}: effect ${v}`), null);
          } catch (e) {
            errors.push(`seed ${seeds[i]}: ${(e as Error).message}`);
            return null;
          }
        });
        results.push({ finding: f.id, ...summarise(vals), seeds: vals, comparison: c.id, claim: f.finding, unit: f.effect, errors });
      }
      if (figuresDir) for (const p of await exportFigures(c, r.groups, r.runs, dataDir, resolve(figuresDir))) log(`[${c.id}] wrote ${p}`);
    }
  } finally {
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
  const minutes = (Date.now() - t0) / 60000;
  console.log(`bench:science — seeds ${seeds.join(',')}, ${minutes.toFixed(1)} min on this machine (budget ${budgetMin} min)`);
  console.log(['finding', 'effect (mean ± std)', 'per seed', 'holds', 'what'].join('\t'));
  for (const r of results) {
    console.log(
      [
        r.finding,
        `${fmt(r.effect)} ± ${fmt(r.std)}`,
        r.seeds.map((v) => fmt(v)).join(' '),
        r.holds ? 'yes' : 'NO',
        `${r.claim} [${r.unit}]`,
      ].join('\t'),
    );
    for (const e of r.errors) console.log(`  ! ${e}`);
  }
  if (minutes > budgetMin) {
    log(`bench:science took ${minutes.toFixed(1)} min, over the ${budgetMin} min budget`);
    bad++;
  }
  if (flag('json'))
    console.log(JSON.stringify(results.map(({ finding, holds, effect, std, seeds: s }) => ({ finding, holds, effect, std, seeds: s }))));
  return bad ? 1 : 0;
}

process.exitCode = await main();
