/**
 * Figures as files: the layout (ticks, bounds, legend placement), the standalone SVG, the PDF
 * (pdffonts: fonts embedded; pdftotext: labels and legend present), the PNG sizes and
 * colours, the zip a browser download bundles, and the service's export commands.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { figureFiles, exportPreset, groupFiles } from '../../core/export-files';
import { pngSize, renderFigureFiles, sceneToPdf } from '../../core/figure-render';
import { layoutFigure, type SceneItem } from '../../shared/export/figure-layout';
import { formatTick, logTicks, niceStep, ticksBetween } from '../../shared/ticks';
import { EXPORT_PRESETS, yLimits, type Figure } from '../../shared/export/model';
import { styleForVariant } from '../../shared/export/style';
import { figureSvg } from '../../shared/export/svg';
import { pgfplotsFigure } from '../../shared/export/pgfplots';
import { matplotlibScript } from '../../shared/export/matplotlib';
import { crc32, zipStore } from '../../shared/export/zip';
import { countColor, pngInfo, pngPixels } from '../fixtures/png';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
// CI installs poppler-utils (scripts/setup.sh --test): there the checks must run, not skip.
const hasPoppler = has('pdffonts') && has('pdftotext');

const rising = (v: string, base: number, n = 6): Figure['series'][number] => ({
  key: v,
  label: v,
  variant: v,
  points: Array.from({ length: n }, (_, x) => ({ x, mean: base + x * 0.07, lo: base + x * 0.07 - 0.04, hi: base + x * 0.07 + 0.04 })),
  runs: [0, 1].map((s) => ({
    id: `${v}-${s}`,
    points: Array.from({ length: n }, (_, x) => ({ x, y: base + x * 0.07 + (s ? 0.03 : -0.03) })),
  })),
});

const figure: Figure = {
  title: 'addition: held-out accuracy',
  xLabel: 'Iteration',
  yLabel: 'Held-out accuracy',
  yBounds: [0, 1],
  series: [
    rising('star', 0.07),
    rising('star-norat', 0.02),
    {
      key: 'v',
      label: 'V-STaR <best-of-8> & "DPO"',
      variant: 'v-star',
      points: [
        { x: 0, mean: 0.12 },
        { x: 5, mean: 0.2 },
      ],
    },
  ],
};

const tmp = () => mkdtempSync(join(tmpdir(), 'starlab-fig-'));

describe('a fixed y axis (export as drawn)', () => {
  const low: Figure = { title: 't', xLabel: 'x', yLabel: 'y', yBounds: [0, 1], series: [rising('star', 0.1, 4)] };
  const yTickTexts = (f: Figure) =>
    layoutFigure(f)
      .items.filter((i) => i.kind === 'text' && i.anchor === 'end')
      .map((i) => (i as { text: string }).text);
  it('follows the data inside the bounds without yDomain, and spans yDomain with it', () => {
    expect(yTickTexts(low).at(-1)).not.toBe('1.0');
    const drawn = yTickTexts({ ...low, yDomain: [0, 1] });
    expect(drawn[0]).toBe('0');
    expect(drawn.at(-1)).toBe('1.0');
    expect(yLimits({ ...low, yDomain: [0, 1] })).toEqual({ min: 0, max: 1 });
  });
});

describe('ticks', () => {
  it('steps are 1-2-5 multiples, ticks multiples of the step, labels by the step', () => {
    expect(niceStep(1, 5)).toBe(0.2);
    expect(niceStep(0.43, 5)).toBe(0.1);
    expect(niceStep(5, 5)).toBe(1);
    expect(niceStep(37_000, 4)).toBe(10_000);
    expect(ticksBetween(0, 0.5, 0.1)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(ticksBetween(-0.05, 0.31, 0.1)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(formatTick(0.30000000000000004, 0.1)).toBe('0.3');
    expect(formatTick(-0.2, 0.1)).toBe('\u22120.2');
    expect(formatTick(25_000, 5_000)).toBe('25k');
    expect(formatTick(1_500_000, 500_000)).toBe('1.5M');
    expect(formatTick(3, 1)).toBe('3');
    expect(logTicks(0.01, 10)).toEqual([0.01, 0.1, 1, 10]);
    expect(logTicks(1, 10)).toEqual([1, 2, 5, 10]);
  });
});

describe('x axes of a kind (issue 17: ticks as the screen draws them, in every export)', () => {
  const over = (xs: number[], xKind: Figure['xKind']): Figure => ({
    title: 't',
    xLabel: 'x',
    yLabel: 'y',
    xKind,
    series: [{ key: 'star', label: 'star', variant: 'star', points: xs.map((x, i) => ({ x, mean: i / xs.length })) }],
  });
  const xLabels = (f: Figure) =>
    layoutFigure(f, 'single-column')
      .items.filter((i): i is Extract<SceneItem, { kind: 'text' }> => i.kind === 'text' && i.anchor === 'middle')
      .map((t) => t.text);
  it('wall time in durations, counts with SI prefixes, in the figure, pgfplots and matplotlib', () => {
    const time = over([0, 300, 900, 1500], 'duration');
    expect(xLabels(time)).toEqual(expect.arrayContaining(['0', '10 min', '20 min']));
    expect(pgfplotsFigure(time)).toContain('xticklabels={{0},{5 min},{10 min},{15 min},{20 min},{25 min}}');
    expect(matplotlibScript('f.csv', time)).toContain('XTICKLABELS = ["0", "5 min", "10 min", "15 min", "20 min", "25 min"]');
    const tokens = over([0, 400_000, 1_150_000], 'count');
    expect(xLabels(tokens)).toEqual(expect.arrayContaining(['0', '200k', '400k', '1M']));
    expect(xLabels(tokens).some((l) => /\d{5}/.test(l))).toBe(false);
    // a fixed x range (a zoomed chart) is the axis in every format
    const zoomed = { ...time, xDomain: [300, 900] as [number, number] };
    const mins = xLabels(zoomed)
      .filter((l) => l.endsWith(' min'))
      .map((l) => Number(l.slice(0, -4)));
    expect(mins.length).toBeGreaterThanOrEqual(2);
    expect(mins.every((m) => m >= 5 && m <= 15)).toBe(true);
    expect(pgfplotsFigure(zoomed)).toContain('xmin=300');
    expect(matplotlibScript('f.csv', zoomed)).toContain('XLIM = (300, 900)');
    // without a kind, the tools tick as they do
    expect(pgfplotsFigure(over([0, 5], undefined))).not.toContain('xtick=');
    expect(matplotlibScript('f.csv', over([0, 5], undefined))).toContain('XTICKS = []');
  });
});

describe('layoutFigure', () => {
  it('fits the preset, keeps the axis inside yBounds and clips what crosses them', () => {
    const s = layoutFigure(figure, 'single-column');
    expect([s.width, s.height]).toEqual([3.25 * 72, 2.2 * 72]);
    const texts = s.items.filter((i): i is Extract<SceneItem, { kind: 'text' }> => i.kind === 'text').map((t) => t.text);
    // the band of star-norat dips below 0: the axis stops at 0 (no "−0.1"), the band is clipped
    expect(texts).toContain('0');
    expect(texts.some((t) => t.startsWith('\u2212'))).toBe(false);
    const kinds = s.items.map((i) => i.kind);
    expect(kinds.indexOf('clip-begin')).toBeLessThan(kinds.indexOf('area'));
    expect(kinds.indexOf('clip-end')).toBeGreaterThan(kinds.lastIndexOf('area'));
    for (const t of ['Iteration', 'Held-out accuracy', 'star', 'star-norat', 'V-STaR <best-of-8> & "DPO"']) expect(texts).toContain(t);
    // every item inside the page
    for (const it of s.items)
      if (it.kind === 'text') expect(it.x >= 0 && it.x <= s.width && it.y >= 0 && it.y <= s.height, it.text).toBe(true);
  });

  it('puts the legend in a corner no curve passes through', () => {
    const s = layoutFigure({ ...figure, series: figure.series.slice(0, 2) }, 'double-column');
    const L = s.legend!;
    expect(['top-left', 'bottom-right']).toContain(L.corner); // rising curves leave these free
    for (const it of s.items)
      if (it.kind === 'line' && it.width > 1 && !it.points.every(([x, y]) => x >= L.x && x <= L.x + L.w && y >= L.y && y <= L.y + L.h))
        for (const [x, y] of it.points) expect(x >= L.x && x <= L.x + L.w && y >= L.y && y <= L.y + L.h).toBe(false);
    // a falling curve (a loss) moves it
    const falling: Figure = {
      ...figure,
      yBounds: undefined,
      series: [{ key: 'star', label: 'star', variant: 'star', points: [0, 1, 2, 3, 4, 5].map((x) => ({ x, mean: 1 - x * 0.18 })) }],
    };
    expect(['top-right', 'bottom-left']).toContain(layoutFigure(falling).legend!.corner);
  });

  it('draws each variant in its fixed colour and dash, one point as a dot, log axes by decade', () => {
    const s = layoutFigure(figure);
    const strokes = s.items
      .filter((i) => i.kind === 'line' && i.width === 1.2)
      .map((i) => (i as { stroke: string; dash?: number[] }).stroke);
    expect(strokes).toContain(styleForVariant('star').color);
    expect(strokes).toContain(styleForVariant('star-norat').color);
    const dashed = s.items.find((i) => i.kind === 'line' && i.stroke === styleForVariant('star-norat').color && i.width === 1.2) as {
      dash?: number[];
    };
    expect(dashed.dash).toEqual([3, 3]);
    const one: Figure = { ...figure, series: [{ key: 'q', label: 'q', variant: 'quiet-star', points: [{ x: 2, mean: 0.4 }] }] };
    expect(layoutFigure(one).items.some((i) => i.kind === 'circle')).toBe(true);
    const log = layoutFigure({
      title: 'loss',
      xLabel: 'step',
      yLabel: 'loss',
      yLog: true,
      series: [{ key: 'a', label: 'a', points: [1, 10, 100, 1000].map((x, i) => ({ x, mean: 10 / (i + 1) ** 2 })) }],
    });
    const labels = log.items.filter((i) => i.kind === 'text').map((i) => (i as { text: string }).text);
    expect(labels).toEqual(expect.arrayContaining(['0.1', '1', '10', 'loss (log)']));
    expect(() => layoutFigure({ ...figure, yLog: true, series: [{ key: 'z', label: 'z', points: [{ x: 0, mean: 0 }] }] })).toThrow(
      /no point to plot.*log axis/,
    );
  });
});

describe('SVG', () => {
  it('is well-formed XML with presentation attributes only, sized in inches, text escaped', () => {
    const svg = figureSvg(figure, 'double-column');
    const dir = tmp();
    writeFileSync(join(dir, 'f.svg'), svg);
    // a real XML parser (Python's), not a regex
    const out = execFileSync('python3', [
      '-c',
      'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.tag, r.get("width"), r.get("height"), len(list(r.iter())))',
      join(dir, 'f.svg'),
    ]).toString();
    expect(out).toMatch(/^\{http:\/\/www.w3.org\/2000\/svg\}svg 6.75in 2.6in \d+/);
    expect(svg).not.toMatch(/\sstyle=|\sclass=|<style/);
    expect(svg).toContain('V-STaR &lt;best-of-8&gt; &amp; &quot;DPO&quot;');
    expect(svg).toContain('font-family="Tinos, Times New Roman');
    expect(figureSvg(figure, { ...EXPORT_PRESETS['single-column'], fontFamily: 'sans-serif' })).toContain('font-family="Arimo, Arial');
  });
});

describe('PDF and PNG', () => {
  it('PDF: every font embedded (pdffonts), axis labels and legend extractable (pdftotext)', () => {
    expect(hasPoppler, 'pdffonts/pdftotext (poppler-utils) are missing: bash scripts/setup.sh --test installs them').toBe(true);
    const dir = tmp();
    for (const family of ['serif', 'sans-serif'] as const) {
      const preset = { ...EXPORT_PRESETS['single-column'], fontFamily: family };
      const pdf = join(dir, `${family}.pdf`);
      writeFileSync(pdf, sceneToPdf(layoutFigure(figure, preset)));
      const fonts = execFileSync('pdffonts', [pdf]).toString().trim().split('\n').slice(2);
      expect(fonts.length).toBe(1);
      for (const row of fonts) expect(row.split(/\s+/)[row.split(/\s+/).length - 5]).toBe('yes'); // the "emb" column
      expect(fonts[0]).toContain(family === 'serif' ? 'Tinos' : 'Arimo');
      const text = execFileSync('pdftotext', [pdf, '-']).toString();
      for (const t of ['Iteration', 'Held-out accuracy', 'star-norat', 'V-STaR <best-of-8> & "DPO"', '0.4']) expect(text).toContain(t);
      const info = execFileSync('pdfinfo', [pdf]).toString();
      expect(info).toMatch(/Page size:\s+234 x 158.4 pts/);
      expect(info).toContain('addition: held-out accuracy');
    }
  });

  it('PNG at 2× and 3× has the asked pixel size and draws the variants in their colours', () => {
    for (const name of ['single-column', 'double-column'] as const) {
      const files = renderFigureFiles(figure, 'fig', ['png'], name);
      expect(files.map((f) => f.name)).toEqual(['fig@2x.png', 'fig@3x.png']);
      for (const [i, scale] of [2, 3].entries()) {
        const want = pngSize(EXPORT_PRESETS[name], scale);
        expect(pngInfo(files[i]!.data)).toMatchObject(want);
        if (name === 'single-column' && scale === 2) {
          expect(want).toEqual({ width: 624, height: 422 });
          const px = pngPixels(files[i]!.data);
          expect(countColor(px, styleForVariant('star').color, 10)).toBeGreaterThan(200);
          expect(countColor(px, styleForVariant('star-norat').color, 10)).toBeGreaterThan(100);
          expect(countColor(px, '#000000', 60)).toBeGreaterThan(500); // frame, ticks, text
        }
      }
    }
  });
});

describe('a figure set', () => {
  it('names every format’s files and writes the .py with its CSV', () => {
    const files = figureFiles(
      figure,
      'addition-accuracy',
      ['svg', 'pdf', 'png', 'csv', 'pgf', 'py'],
      exportPreset({ preset: 'single-column' }),
    );
    expect(files.map((f) => f.name)).toEqual([
      'addition-accuracy.svg',
      'addition-accuracy.pdf',
      'addition-accuracy@2x.png',
      'addition-accuracy@3x.png',
      'addition-accuracy.csv',
      'addition-accuracy.pgf.tex',
      'addition-accuracy.standalone.tex',
      'addition-accuracy.py',
    ]);
    expect(figureFiles(figure, 'f', ['py'], exportPreset({})).map((f) => f.name)).toEqual(['f.csv', 'f.py']);
    expect(exportPreset({ preset: 'double-column', fontFamily: 'sans-serif', fontPt: 10 })).toEqual({
      widthIn: 6.75,
      heightIn: 2.6,
      fontPt: 10,
      fontFamily: 'sans-serif',
    });
  });

  it('a group with nothing completed is refused, naming why', () => {
    const source = {
      getGroup: () => ({
        id: 'g1',
        name: 'g',
        createdAt: 0,
        spec: null,
        counts: {},
        total: 1,
        runs: [{ id: 'r1', status: 'failed' } as never],
      }),
      getSeries: () => ({}),
      getRun: () => null,
    };
    const r = groupFiles(source, 'g1', ['svg'], exportPreset({}));
    expect(r).toMatchObject({
      ok: false,
      message: expect.stringMatching(/no completed run/),
      skipped: [{ id: 'r1', reason: 'run is failed' }],
    });
  });

  it('exports another metric under its own file names, as a percentage only where it is a fraction', () => {
    const pts = (vals: number[]) => vals.map((value, iteration) => ({ iteration, step: iteration, t: iteration, value }));
    const series: Record<string, Record<string, ReturnType<typeof pts>>> = {
      r1: { 'eval/accuracy/digits_3': pts([0, 0.25]), 'eval/answer_logprob': pts([-3, -2]) },
      r2: { 'eval/accuracy/digits_3': pts([0, 0.5]), 'eval/answer_logprob': pts([-2.5, -1.5]) },
    };
    const source = {
      getGroup: () => ({
        id: 'g1',
        name: 'g',
        createdAt: 0,
        spec: { variants: ['star'], datasets: ['addition'] },
        counts: {},
        total: 2,
        runs: ['r1', 'r2'].map((id, seed) => ({ id, status: 'completed', variant: 'star', dataset: 'addition', seed }) as never),
      }),
      getSeries: (ids: string[], names: string[]) =>
        Object.fromEntries(ids.map((id) => [id, Object.fromEntries(names.map((n) => [n, series[id]![n]!]))])),
      getRun: () => null,
    };
    const digits = groupFiles(source, 'g1', ['svg', 'tex'], exportPreset({}), { metric: 'eval/accuracy/digits_3' });
    if (!digits.ok) throw new Error(digits.message);
    expect(digits.files.map((f) => f.name)).toEqual(['addition-eval_accuracy_digits_3.svg', 'table.tex']);
    const tex = digits.files[1]!.data.toString();
    expect(tex).toContain('eval/accuracy/digits\\_3 (\\%)');
    expect(tex).toContain('37.5 \\pm 17.7'); // final: mean and sample std of 0.25 and 0.5, in percent
    const logp = groupFiles(source, 'g1', ['tex'], exportPreset({}), { metric: 'eval/answer_logprob' });
    if (!logp.ok) throw new Error(logp.message);
    const t2 = logp.files[0]!.data.toString();
    expect(t2).toContain('-1.8 \\pm 0.4'); // not multiplied by 100
    expect(t2).not.toContain('\\%');
  });

  it('zipStore writes an archive Python reads back byte for byte', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926); // the standard check value
    const entries = [
      { name: 'a.csv', data: new TextEncoder().encode('series,x\r\nstar,1\r\n') },
      { name: 'fig@2x.png', data: new Uint8Array([0, 1, 2, 255, 254]) },
      { name: 'empty.txt', data: new Uint8Array() },
    ];
    const dir = tmp();
    writeFileSync(join(dir, 'set.zip'), zipStore(entries));
    const out = execFileSync('python3', [
      '-c',
      'import sys, zipfile, json; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps({n: list(z.read(n)) for n in z.namelist()}))',
      join(dir, 'set.zip'),
    ]).toString();
    expect(JSON.parse(out)).toEqual(Object.fromEntries(entries.map((e) => [e.name, [...e.data]])));
  });
});
