import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import { parseCSV, readFigureCSV, toCSV } from '../../shared/export/csv';
import { aggregateRuns, buildGroupExport } from '../../shared/export/group';
import { escapeLatex, latexTable } from '../../shared/export/latex';
import { matplotlibScript } from '../../shared/export/matplotlib';
import { bandOpacity, EXPORT_PRESETS, figureBandOpacity, mean, sampleStd, type Figure, type Table } from '../../shared/export/model';
import { layoutFigure } from '../../shared/export/figure-layout';
import { pgfplotsFigure, pgfplotsStandalone } from '../../shared/export/pgfplots';
import { OKABE_ITO, styleForVariant } from '../../shared/export/style';
import { pngSize } from '../../core/figure-render';
import { pngInfo } from '../fixtures/png';
import { cleanupTempDirs, FAKE_PYTHON, fakeCommand, REPO, tempDir, waitFor } from '../fixtures/helpers';

const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) {
    for (const r of s.listRuns()) if (r.status === 'running') s.stopRun(r.id);
    s.close();
  }
});
afterAll(cleanupTempDirs);

const VENV_PYTHON = join(REPO, 'experiments', '.venv', 'bin', 'python');
const hasPython = existsSync(VENV_PYTHON);
const hasMatplotlib = hasPython && spawnSync(VENV_PYTHON, ['-c', 'import matplotlib'], { stdio: 'ignore' }).status === 0;
const hasPdflatex = spawnSync('sh', ['-c', 'command -v pdflatex'], { stdio: 'ignore' }).status === 0;
const hasPoppler = spawnSync('sh', ['-c', 'command -v pdftotext'], { stdio: 'ignore' }).status === 0;
// CI installs TeX Live's pgfplots, booktabs and standalone (scripts/setup.sh --test): there the compile must run

const figure: Figure = {
  title: 'addition: held-out accuracy',
  xLabel: 'Iteration',
  yLabel: 'Accuracy',
  series: [
    {
      key: 'star',
      label: 'STaR, "full"',
      variant: 'star',
      points: [
        { x: 0, mean: 0.1, lo: 0.05, hi: 0.15 },
        { x: 1, mean: 0.30000000000000004, lo: 0.2, hi: 0.4 },
        { x: 2, mean: 0.5 + 1e-9, lo: 0.45, hi: 0.55 },
      ],
      runs: [
        {
          id: 'r1',
          points: [
            { x: 0, y: 0.05 },
            { x: 1, y: 0.2 },
            { x: 2, y: 0.45 },
          ],
        },
        {
          id: 'r2',
          points: [
            { x: 0, y: 0.15 },
            { x: 1, y: 0.4 },
            { x: 2, y: 0.55 },
          ],
        },
      ],
    },
    {
      key: 'star-norat',
      label: 'no rationalization\nablation',
      variant: 'star-norat',
      points: [
        { x: 0, mean: 0.1, lo: 0.09, hi: 0.11 },
        { x: 1, mean: 0.2, lo: 0.1, hi: 0.3 },
      ],
    },
    {
      key: 'v-star',
      label: 'V-STaR_100%',
      variant: 'v-star',
      points: [
        { x: 0, mean: 0.2 },
        { x: 1, mean: 0.25 },
      ],
    },
  ],
};
const noRuns: Figure = { ...figure, series: figure.series.map(({ runs: _r, ...s }) => s) };

/** Braces balanced (escaped \{ \} do not count), \begin/\end properly nested. */
function checkTex(tex: string): void {
  const code = tex
    .split('\n')
    .map((l) => l.replace(/(^|[^\\])%.*$/, '$1'))
    .join('\n')
    .replace(/\\[{}]/g, '');
  let depth = 0;
  for (const c of code) {
    if (c === '{') depth++;
    if (c === '}') depth--;
    expect(depth).toBeGreaterThanOrEqual(0);
  }
  expect(depth).toBe(0);
  const stack: string[] = [];
  for (const m of code.matchAll(/\\(begin|end)\{([^}]+)\}/g)) {
    if (m[1] === 'begin') stack.push(m[2]!);
    else expect(stack.pop()).toBe(m[2]);
  }
  expect(stack).toEqual([]);
}

describe('CSV', () => {
  it('round-trips exactly the plotted values, runs included, with RFC 4180 quoting', () => {
    const csv = toCSV(figure);
    expect(csv.split('\r\n')[0]).toBe('series,x,mean,lo,hi,y');
    expect(csv).toContain('"STaR, ""full"""');
    expect(csv).toContain('"no rationalization\nablation"');
    const back = readFigureCSV(csv);
    expect([...back.series.keys()]).toEqual(figure.series.map((s) => s.label));
    for (const s of figure.series) {
      expect(back.series.get(s.label)).toEqual(s.points);
      for (const r of s.runs ?? []) expect(back.runs.get(`${s.label}/run ${r.id}`)).toEqual(r.points);
    }
    expect(back.runs.size).toBe(2);
    // plain parse: every row has the header's width
    const rows = parseCSV(csv);
    expect(rows.every((r) => r.length === 6)).toBe(true);
    expect(rows.length).toBe(1 + 3 + 2 + 2 + 6);
    // no runs: five columns
    const plain = toCSV(noRuns);
    expect(parseCSV(plain)[0]).toEqual(['series', 'x', 'mean', 'lo', 'hi']);
    expect(readFigureCSV(plain).series.get('V-STaR_100%')).toEqual([
      { x: 0, mean: 0.2 },
      { x: 1, mean: 0.25 },
    ]);
    expect(parseCSV('a,"b\r\nc",d\r\n,,\r\n')).toEqual([
      ['a', 'b\r\nc', 'd'],
      ['', '', ''],
    ]);
  });
});

describe('LaTeX table', () => {
  const table: Table = {
    rows: [
      { variant: 'star', dataset: 'gsm_8k', n: 3, finalMean: 0.442, finalStd: 0.031, bestMean: 0.45, bestStd: 0.02 },
      { variant: 'star-norat', dataset: 'gsm_8k', n: 3, finalMean: 0.401, finalStd: 0.01, bestMean: 0.47, bestStd: 0.015 },
      { variant: 'my_var&co %#$', dataset: 'gsm_8k', n: 1, finalMean: 0.3, finalStd: null, bestMean: 0.31, bestStd: null },
      { variant: 'star', dataset: 'csqa{~^\\}', n: 3, finalMean: 0.6, finalStd: 0.05, bestMean: 0.7, bestStd: 0.01 },
    ],
  };
  const tex = latexTable(table, { caption: 'Results: 50% of runs & more', label: 'tab:main', metricLabel: 'Acc. (\\%)' });

  it('escapes names, bolds the best per column, uses booktabs and balanced braces', () => {
    expect(escapeLatex('a_b&c%d#e$f{g}h~i^j\\k')).toBe(
      'a\\_b\\&c\\%d\\#e\\$f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j\\textbackslash{}k',
    );
    for (const rule of ['\\toprule', '\\midrule', '\\bottomrule']) expect(tex.split(rule).length - 1).toBe(1);
    expect(tex).toContain('my\\_var\\&co \\%\\#\\$');
    expect(tex).toContain('\\multicolumn{2}{c}{gsm\\_8k}');
    expect(tex).toContain('csqa\\{\\textasciitilde{}\\textasciicircum{}\\textbackslash{}\\}');
    expect(tex).toContain('\\caption{Results: 50\\% of runs \\& more}');
    expect(tex).toContain('\\label{tab:main}');
    expect(tex).toContain('Acc. (\\%) & Final & Best & Final & Best');
    const line = (v: string) => tex.split('\n').find((l) => l.startsWith(v + ' &'))!;
    // gsm_8k final: star best; gsm_8k best: star-norat best; csqa: star only (bold, and -- for the others)
    expect(line('star')).toBe(
      'star & $\\mathbf{44.2 \\pm 3.1}$ & $45.0 \\pm 2.0$ & $\\mathbf{60.0 \\pm 5.0}$ & $\\mathbf{70.0 \\pm 1.0}$ \\\\',
    );
    expect(line('star-norat')).toBe('star-norat & $40.1 \\pm 1.0$ & $\\mathbf{47.0 \\pm 1.5}$ & -- & -- \\\\');
    expect(line('my\\_var\\&co \\%\\#\\$')).toContain('& $30.0$ & $31.0$ &');
    expect(tex.match(/\\mathbf/g)).toHaveLength(4);
    checkTex(tex);
  });
});

describe('pgfplots', () => {
  it('one mean \\addplot per series, fill between per band, Okabe–Ito colours, balanced', () => {
    const tex = pgfplotsFigure(noRuns, 'single-column');
    const means = tex.split('\n').filter((l) => l.startsWith('\\addplot[color='));
    expect(means).toHaveLength(3);
    expect(tex.match(/\\addlegendentry\{/g)).toHaveLength(3);
    expect(tex.match(/fill between\[of=/g)).toHaveLength(2); // v-star has no band
    expect(tex).toContain('\\addplot[name path=s0lo, draw=none, forget plot] coordinates {(0,0.05) (1,0.2) (2,0.45)};');
    expect(tex).toContain('\\addplot[fill=OIblue, fill opacity=0.15, draw=none, forget plot] fill between[of=s0lo and s0hi];');
    expect(tex).toContain('\\definecolor{OIblue}{HTML}{0072B2}');
    expect(tex).toContain('\\definecolor{OIvermillion}{HTML}{D55E00}');
    expect(tex).toContain('width=3.25in');
    expect(tex).toContain('\\fontsize{8}');
    expect(tex).toContain('xlabel={Iteration}');
    expect(tex).toContain('\\addlegendentry{V-STaR\\_100\\%}');
    expect(tex).not.toContain('ymode=log');
    checkTex(tex);
    const withRuns = pgfplotsFigure(figure, 'double-column');
    expect(withRuns).toContain('width=6.75in');
    expect(withRuns.match(/forget plot\] coordinates/g)!.length).toBe(2 * 2 + 2); // lo/hi paths of 2 bands + 2 runs
    checkTex(withRuns);
  });

  it('bands as the screen draws them: lighter where many overlap, in every format', () => {
    // six banded series (per-difficulty curves): each band at 0.45 / 6 = 0.075, as on screen
    const many: Figure = {
      ...noRuns,
      series: Array.from({ length: 6 }, (_, i) => ({ ...noRuns.series[0]!, key: `d${i}`, label: `${i + 1}-digit` })),
    };
    expect(figureBandOpacity(noRuns)).toBe(0.15);
    expect(figureBandOpacity(many)).toBe(bandOpacity(6));
    expect(bandOpacity(6)).toBe(0.075);
    expect(pgfplotsFigure(many, 'single-column').match(/fill opacity=0\.075,/g)).toHaveLength(6);
    expect(matplotlibScript('fig.csv', many, 'single-column')).toContain('BAND_ALPHA = 0.075');
    const areas = layoutFigure(many, 'single-column').items.filter((it) => it.kind === 'area');
    expect(areas.length).toBeGreaterThan(0);
    expect(areas.every((a) => (a as { opacity?: number }).opacity === 0.075)).toBe(true);
  });

  it('ymode=log when set (non-positive values left out); standalone has the preamble', () => {
    const log: Figure = {
      ...noRuns,
      yLog: true,
      series: [
        {
          key: 'x',
          label: 'loss',
          points: [
            { x: 0, mean: 1, lo: -0.5, hi: 2 },
            { x: 1, mean: 0.5, lo: 0.25, hi: 1 },
            { x: 2, mean: 0.25, lo: 0.1, hi: 0.5 },
          ],
        },
      ],
    };
    const tex = pgfplotsFigure(log);
    expect(tex).toContain('ymode=log');
    expect(tex).toContain('name path=s0lo, draw=none, forget plot] coordinates {(1,0.25) (2,0.1)}');
    checkTex(tex);
    const doc = pgfplotsStandalone(figure);
    for (const s of [
      '\\documentclass[border=2pt]{standalone}',
      '\\usepackage{pgfplots}',
      '\\pgfplotsset{compat=1.18}',
      '\\usepgfplotslibrary{fillbetween}',
      '\\begin{document}',
      '\\end{document}',
    ])
      expect(doc).toContain(s);
    checkTex(doc);
  });

  it('the pgfplots figure (bands clipped at the bounds, log y) and the booktabs table compile with pdflatex', () => {
    expect(hasPdflatex, 'pdflatex (TeX Live with pgfplots) is missing: bash scripts/setup.sh --test installs it').toBe(true);
    expect(hasPoppler, 'pdftotext (poppler-utils) is missing: bash scripts/setup.sh --test installs it').toBe(true);
    const dir = tempDir();
    const pdflatex = (name: string) =>
      execFileSync('pdflatex', ['-interaction=nonstopmode', '-halt-on-error', name], { cwd: dir, stdio: 'pipe', timeout: 120_000 });
    writeFileSync(
      join(dir, 'fig.tex'),
      pgfplotsStandalone({
        ...figure,
        yBounds: [0, 1],
        series: [
          ...figure.series,
          {
            key: 'x',
            label: 'below 0',
            points: [
              { x: 0, mean: 0.02, lo: -0.1, hi: 0.14 },
              { x: 1, mean: 0.05, lo: -0.02, hi: 0.12 },
            ],
          },
        ],
      }),
    );
    pdflatex('fig.tex');
    expect(existsSync(join(dir, 'fig.pdf'))).toBe(true);
    writeFileSync(join(dir, 'log.tex'), pgfplotsStandalone({ ...figure, yLog: true }, 'double-column'));
    pdflatex('log.tex');
    expect(existsSync(join(dir, 'log.pdf'))).toBe(true);
    const table = latexTable(
      {
        metric: 'eval/accuracy',
        rows: [
          { variant: 'star', dataset: 'gsm8k', n: 3, finalMean: 0.1, finalStd: 0.01, bestMean: 0.12, bestStd: 0.02 },
          { variant: 'star_norat & "x"', dataset: 'gsm8k', n: 1, finalMean: 0.05, finalStd: null, bestMean: 0.06, bestStd: null },
        ],
      },
      { caption: 'A 50% caption_with #specials', label: 'tab:x' },
    );
    writeFileSync(
      join(dir, 'table.tex'),
      `\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n${table}\n\\end{document}\n`,
    );
    pdflatex('table.tex');
    const text = execFileSync('pdftotext', [join(dir, 'table.pdf'), '-']).toString();
    for (const t of ['Final', 'Best', 'norat', '12.0', '50% caption']) expect(text).toContain(t);
  }, 300_000);
});

describe('styles and presets', () => {
  it('styleForVariant is fixed for the four variants, stable and from the palette otherwise', () => {
    expect(styleForVariant('star')).toEqual({ color: '#0072B2', colorName: 'OIblue', dash: 'solid' });
    expect(styleForVariant('star-norat')).toMatchObject({ color: '#D55E00', dash: 'dashed' });
    expect(styleForVariant('v-star').color).toBe('#009E73');
    expect(styleForVariant('quiet-star').color).toBe('#CC79A7');
    const fixed = ['#0072B2', '#D55E00', '#009E73', '#CC79A7'];
    for (const v of ['my-variant', 'star (loop.lr=0.001)', 'x', '']) {
      const s = styleForVariant(v);
      expect(styleForVariant(v)).toEqual(s);
      expect(OKABE_ITO.map((c) => c.hex)).toContain(s.color);
      expect(fixed).not.toContain(s.color);
    }
    expect(EXPORT_PRESETS['single-column']).toEqual({ widthIn: 3.25, heightIn: 2.2, fontPt: 8, fontFamily: 'serif' });
    expect(EXPORT_PRESETS['double-column'].widthIn).toBe(6.75);
  });
});

describe('matplotlib script', () => {
  it('is valid Python that reads the CSV with the csv module (runs it when matplotlib is installed)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'fig.csv'), toCSV(figure));
    const script = matplotlibScript('fig.csv', { ...figure, yLog: true, title: 'a "quoted" \\ title"""' }, 'double-column');
    writeFileSync(join(dir, 'fig.py'), script);
    expect(script).toContain('import csv');
    expect(script).not.toMatch(/pandas/);
    expect(script).toContain('fill_between');
    expect(script).toContain('ax.set_yscale("log")');
    expect(script).toContain('YLOG = True');
    expect(script).toContain('WIDTH_IN, HEIGHT_IN = 6.75, 2.6');
    expect(script).toContain('("STaR, \\"full\\"", "#0072B2", \'-\')');
    expect(script).toContain('("no rationalization\\nablation", "#D55E00", \'--\')');
    if (!hasPython) return; // no venv: structural checks only
    execFileSync(VENV_PYTHON, ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', join(dir, 'fig.py')]);
    // the CSV reader part works without matplotlib
    const probe = `import sys, types\nmpl = types.ModuleType('matplotlib'); mpl.use = lambda *a: None; mpl.pyplot = types.ModuleType('matplotlib.pyplot')\nsys.modules['matplotlib'] = mpl; sys.modules['matplotlib.pyplot'] = mpl.pyplot\nimport importlib.util\nspec = importlib.util.spec_from_file_location('fig', sys.argv[1])\nm = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\nmeans, runs = m.read(m.CSV_FILE)\nprint(sorted(means), sorted(runs), means['V-STaR_100%'])`;
    const out = execFileSync(VENV_PYTHON, ['-c', probe, join(dir, 'fig.py')], { encoding: 'utf8' });
    expect(out.trim()).toBe(
      "['STaR, \"full\"', 'V-STaR_100%', 'no rationalization\\nablation'] ['STaR, \"full\"/run r1', 'STaR, \"full\"/run r2'] [(0.0, 0.2, None, None), (1.0, 0.25, None, None)]",
    );
    if (hasMatplotlib) {
      execFileSync(VENV_PYTHON, [join(dir, 'fig.py')], { timeout: 60_000 });
      expect(existsSync(join(dir, 'fig.pdf')) && existsSync(join(dir, 'fig.png'))).toBe(true);
    } // else: running it needs matplotlib (not in experiments/.venv)
  });
});

describe('group export', () => {
  it('aggregates mean ± sample std by iteration and final/best per run (pure)', () => {
    const r = aggregateRuns([
      {
        id: 'a',
        variant: 'star',
        dataset: 'd',
        seed: 0,
        points: [
          { iteration: 0, value: 0.1 },
          { iteration: 1, value: 0.5 },
          { iteration: 2, value: 0.4 },
        ],
      },
      {
        id: 'b',
        variant: 'star',
        dataset: 'd',
        seed: 1,
        points: [
          { iteration: 0, value: 0.3 },
          { iteration: 1, value: 0.2 },
          { iteration: 2, value: 0.6 },
        ],
      },
      { id: 'c', variant: 'star-norat', dataset: 'd', seed: 0, points: [{ iteration: 0, value: 0.2 }] },
    ]);
    expect(r.table.rows).toHaveLength(2);
    const star = r.table.rows[0]!;
    expect(star).toMatchObject({ variant: 'star', dataset: 'd', n: 2 });
    expect(star.finalMean).toBeCloseTo(0.5);
    expect(star.finalStd).toBeCloseTo(Math.SQRT2 * 0.1);
    // best = the peak of the mean curve (0.2, 0.35, 0.5): iteration 2, std of (0.4, 0.6) there;
    // not the mean of each run's own best (0.55), which is above every point of the drawn curve
    expect(star.bestMean).toBeCloseTo(0.5);
    expect(star.bestStd).toBeCloseTo(Math.sqrt(0.02));
    expect(star.bestIteration).toBe(2);
    expect(r.table.rows[1]).toMatchObject({ n: 1, finalMean: 0.2, finalStd: null });
    const s = r.figures[0]!.figure.series[0]!;
    expect(s.points[1]!.mean).toBeCloseTo(0.35);
    expect(s.points[1]!.hi! - s.points[1]!.mean).toBeCloseTo(sampleStd([0.5, 0.2])!);
    expect(r.figures[0]!.figure.series[1]!.points).toEqual([{ x: 0, mean: 0.2 }]);
  });

  it('buildGroupExport on a finished ablation matches hand-computed numbers; the CLI writes the files', async () => {
    const dataDir = tempDir();
    const s = createService({ dataDir, pollMs: 50, commandFor: fakeCommand('complete') });
    open.push(s);
    s.setQueueSettings({ maxConcurrent: 0, gpuSlots: [] });
    const r = s.createAblation({ variants: ['star', 'star-norat'], datasets: ['addition'], seeds: [0, 1], preset: 'tiny' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    await waitFor(() => s.getGroup(r.id)!.runs.every((x) => x.status === 'completed'), 30_000, 'the group to complete');

    const x = buildGroupExport(s, r.id);
    expect(x.skipped).toEqual([]);
    expect(x.figures.map((f) => f.dataset)).toEqual(['addition']);
    const series = s.getSeries(r.runs, ['eval/accuracy']);
    const runs = s.getGroup(r.id)!.runs;
    for (const v of ['star', 'star-norat']) {
      const vals = runs.filter((y) => y.variant === v).map((y) => series[y.id]!['eval/accuracy']!.map((p) => p.value));
      const finals = vals.map((a) => a[a.length - 1]!);
      const meanCurve = vals[0]!.map((_, i) => mean(vals.map((a) => a[i]!)));
      const at = meanCurve.indexOf(Math.max(...meanCurve));
      const row = x.table.rows.find((y) => y.variant === v)!;
      expect(row).toMatchObject({ dataset: 'addition', n: 2 });
      expect(row.finalMean).toBeCloseTo(mean(finals), 12);
      expect(row.finalStd).toBeCloseTo(sampleStd(finals)!, 12);
      expect(row.bestMean).toBeCloseTo(meanCurve[at]!, 12);
      expect(row.bestStd).toBeCloseTo(sampleStd(vals.map((a) => a[at]!))!, 12);
      expect(row.bestIteration).toBe(at);
      const fs = x.figures[0]!.figure.series.find((y) => y.key === v)!;
      expect(fs.points.map((p) => p.x)).toEqual([0, 1]);
      expect(fs.points[0]!.mean).toBeCloseTo(mean(vals.map((a) => a[0]!)), 12);
      expect(fs.runs).toHaveLength(2);
    }
    s.close();
    open.splice(open.indexOf(s), 1);

    const outDir = join(tempDir(), 'paper');
    const res = await cli([
      'export',
      r.id.slice(0, 12),
      '--format',
      'svg,pdf,png,csv,tex,pgf,py',
      '--out',
      outDir,
      '--preset',
      'double-column',
      '--title',
      '{dataset}: ablation',
      '--y-label',
      'Test accuracy',
      '--json',
      '--data-dir',
      dataDir,
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const j = JSON.parse(res.stdout) as { ok: boolean; group: string; files: string[] };
    expect(j.group).toBe(r.id);
    const names = j.files.map((f) => f.slice(outDir.length + 1)).sort();
    expect(names).toEqual([
      'addition-accuracy.csv',
      'addition-accuracy.pdf',
      'addition-accuracy.pgf.tex',
      'addition-accuracy.py',
      'addition-accuracy.standalone.tex',
      'addition-accuracy.svg',
      'addition-accuracy@2x.png',
      'addition-accuracy@3x.png',
      'table.tex',
    ]);
    expect(pngInfo(readFileSync(join(outDir, 'addition-accuracy@3x.png')))).toMatchObject(pngSize(EXPORT_PRESETS['double-column'], 3));
    const svg = readFileSync(join(outDir, 'addition-accuracy.svg'), 'utf8');
    expect(svg).toContain('width="6.75in"');
    // the texts given on the command line; the x label keeps its default
    for (const text of ['addition: ablation', 'Test accuracy', 'Iteration']) expect(svg).toContain(`>${text}<`);
    expect(svg).not.toContain('Held-out accuracy');
    expect(readFileSync(join(outDir, 'addition-accuracy.pdf')).subarray(0, 5).toString()).toBe('%PDF-');
    const back = readFigureCSV(readFileSync(join(outDir, 'addition-accuracy.csv'), 'utf8'));
    expect(back.series.get('star')).toEqual(x.figures[0]!.figure.series[0]!.points);
    expect(readFileSync(join(outDir, 'addition-accuracy.pgf.tex'), 'utf8')).toContain('width=6.75in');
    const table = readFileSync(join(outDir, 'table.tex'), 'utf8');
    expect(table).toContain('star-norat & ');
    // the caption states the compare table's one definition of "best", not the mean of each run's best
    expect(table).toMatch(/\\caption\{[^}]*Best = the highest point of the mean curve over seeds/);
    expect(table).not.toContain("each run's final and best");
    checkTex(table);

    // table.tex exists now: refused (nothing written) without --force, replaced with it
    writeFileSync(join(outDir, 'table.tex'), 'my edited table');
    const again = await cli(['export', r.id, '--format', 'tex', '--out', outDir, '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `starlab: cannot export the figures: ${join(outDir, 'table.tex')} already exists; choose another name, or pass --force to replace it\n`,
    );
    expect(readFileSync(join(outDir, 'table.tex'), 'utf8')).toBe('my edited table');
    const text = await cli(['export', r.id, '--format', 'tex', '--out', outDir, '--force', '--data-dir', dataDir]);
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe(join(outDir, 'table.tex'));
    expect(readFileSync(join(outDir, 'table.tex'), 'utf8')).toContain('\\toprule');

    // a link planted in the output folder is never written through, not even with --force
    const victim = join(tempDir(), 'bashrc');
    writeFileSync(victim, 'export PATH=/usr/bin\n');
    rmSync(join(outDir, 'table.tex'));
    symlinkSync(victim, join(outDir, 'table.tex'));
    for (const force of [[], ['--force']]) {
      const planted = await cli(['export', r.id, '--format', 'tex', '--out', outDir, ...force, '--data-dir', dataDir]);
      expect(planted.code).toBe(1);
      expect(planted.stderr).toMatch(
        /^starlab: cannot export the figures: .*table\.tex is a symbolic link; STaR Lab does not write through links/,
      );
      expect(readFileSync(victim, 'utf8')).toBe('export PATH=/usr/bin\n');
      expect(lstatSync(join(outDir, 'table.tex')).isSymbolicLink()).toBe(true);
    }
    // --out naming an existing file: one sentence, not a raw EEXIST
    const notDir = join(tempDir(), 'figures.pdf');
    writeFileSync(notDir, 'x');
    const onFile = await cli(['export', r.id, '--format', 'tex', '--out', notDir, '--json', '--data-dir', dataDir]);
    expect(onFile.code).toBe(1);
    expect(onFile.stderr).toBe(
      `starlab: cannot export the figures: ${notDir} exists and is not a folder; give a folder (it is created if missing) or remove that file\n`,
    );
    expect(JSON.parse(onFile.stdout)).toMatchObject({ ok: false, message: expect.stringContaining('is not a folder') });

    const bad = await cli(['export', r.id, '--format', 'csv,svg,pdf,bmp', '--out', outDir, '--font-size', '40', '--data-dir', dataDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown format "bmp"/);
    expect(bad.stderr).not.toMatch(/"svg"|"pdf"/);
    expect(bad.stderr).toMatch(/font size "40"/);
    const missing = await cli(['export', 'nope', '--out', outDir, '--data-dir', dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no group "nope"/);
  }, 90_000);
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}
