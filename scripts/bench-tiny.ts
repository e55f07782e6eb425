/**
 * Benchmark of the `tiny` presets: each variant on a dataset for some seeds, through the real
 * CLI (`starlab launch … --wait --json`) into a scratch data dir, one run at a time.
 * Prints wall time and held-out accuracy at iteration 0 (the baseline of the same run) and at
 * the last iteration; for V-STaR also Pass@1 / majority@N / Best-of-N by the DPO verifier.
 *
 *   npm run bench:tiny -- [--variants star,star-norat,v-star,quiet-star] [--dataset addition]
 *                         [--seeds 0,1,2] [--budget-s 300] [--json OUT]
 *
 * Exits 1 if a run fails or takes longer than --budget-s (the issue's "under 5 minutes on
 * 2 cores"); the accuracy figures are reported, not asserted (see the README for measured ones).
 * GSM8K / CommonsenseQA read $STARLAB_DATASETS_DIR (default ../shared/datasets).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VARIANTS } from '../shared/catalogue';

const ROOT = resolve(import.meta.dirname, '..');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

interface Shown {
  id: string;
  status: string;
  statusReason: string | null;
  durationS: number | null;
  config: { verifier?: { candidates: number } };
  metrics: Record<string, { iteration: number; value: number }[]>;
}

function launch(
  variant: string,
  dataset: string,
  seed: number,
  dataDir: string,
): Promise<{ shown: Shown | null; wallS: number; stderr: string }> {
  const t = Date.now();
  const args = [
    join(ROOT, 'bin', 'starlab.js'),
    'launch',
    '--variant',
    variant,
    '--dataset',
    dataset,
    '--preset',
    'tiny',
    '--seed',
    String(seed),
    '--wait',
    '--json',
    '--data-dir',
    dataDir,
  ];
  return new Promise((done) => {
    execFile(process.execPath, args, { cwd: ROOT, maxBuffer: 256 * 1024 * 1024 }, (_err, stdout, stderr) => {
      let shown: Shown | null = null;
      try {
        shown = JSON.parse(stdout) as Shown;
      } catch {
        shown = null;
      }
      done({ shown, wallS: (Date.now() - t) / 1000, stderr });
    });
  });
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(100 * v).toFixed(1)}%`);
const last = (pts: { value: number }[] | undefined) => pts?.[pts.length - 1]?.value;

async function main(): Promise<number> {
  const variants = arg('variants', VARIANTS.join(',')).split(',');
  const dataset = arg('dataset', 'addition');
  const seeds = arg('seeds', '0').split(',').map(Number);
  const budget = Number(arg('budget-s', '300'));
  const jsonOut = arg('json', '');
  process.env['STARLAB_DATASETS_DIR'] ??= resolve(ROOT, '..', 'shared', 'datasets');
  const dataDir = mkdtempSync(join(tmpdir(), 'starlab-bench-'));
  const rows: Record<string, unknown>[] = [];
  let bad = 0;
  console.log(`tiny preset on ${dataset}; budget ${budget} s per run; data dir ${dataDir}`);
  console.log(['variant', 'seed', 'wall s', 'acc it0', 'acc last', 'gain pts', 'extra'].join('\t'));
  try {
    for (const variant of variants)
      for (const seed of seeds) {
        const { shown, wallS, stderr } = await launch(variant, dataset, seed, dataDir);
        if (!shown || shown.status !== 'completed') {
          bad++;
          console.log(`${variant}\t${seed}\tFAILED: ${shown?.status ?? 'no output'} ${shown?.statusReason ?? stderr.slice(-300)}`);
          continue;
        }
        const acc = shown.metrics['eval/accuracy'] ?? [];
        const a0 = acc[0]?.value;
        const aN = last(acc);
        let extra = '';
        const n = shown.config.verifier?.candidates;
        // Quiet-STaR's eval/accuracy is the paper's teacher-forced metric; its exact match is eval/exact_match
        if (variant === 'quiet-star')
          extra =
            `eval/accuracy is teacher-forced; without thoughts ${pct(last(shown.metrics['eval/base_accuracy']))}, ` +
            `greedy exact match ${pct(shown.metrics['eval/exact_match']?.[0]?.value)} → ${pct(last(shown.metrics['eval/exact_match']))}`;
        if (n)
          extra =
            `pass@1 ${pct(last(shown.metrics['vstar/pass@1']))}, majority@${n} ${pct(last(shown.metrics[`vstar/majority@${n}`]))}, ` +
            `best-of-${n} dpo ${pct(last(shown.metrics[`vstar/best_of_k/dpo@${n}`]))} orm ${pct(last(shown.metrics[`vstar/best_of_k/orm@${n}`]))}`;
        const over = wallS > budget;
        if (over) bad++;
        const gain = a0 !== undefined && aN !== undefined ? 100 * (aN - a0) : undefined;
        console.log(
          [variant, seed, wallS.toFixed(0) + (over ? ' OVER BUDGET' : ''), pct(a0), pct(aN), gain?.toFixed(1) ?? '—', extra].join('\t'),
        );
        rows.push({ variant, dataset, seed, wallS, accuracy: acc.map((p) => p.value), gainPts: gain, extra });
      }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2) + '\n');
  return bad ? 1 : 0;
}

process.exitCode = await main();
