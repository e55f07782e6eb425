/** The CSV of a figure: exactly the values plotted (RFC 4180: CRLF line ends, quoted fields where needed). */
import type { Figure } from './model';

export const CSV_HEADER = ['series', 'x', 'mean', 'lo', 'hi'] as const;
export const CSV_HEADER_WITH_RUNS = ['series', 'x', 'mean', 'lo', 'hi', 'y'] as const;

/** The series name of a run's rows. */
export const runSeriesName = (label: string, runId: string) => `${label}/run ${runId}`;

function field(v: string): string {
  return /[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}
/** Numbers in full precision (round-trip exact); absent / non-finite: empty. */
function num(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '' : String(v);
}

/**
 * Rows `series,x,mean,lo,hi` per plotted mean point (series = the legend label); when any
 * series carries runs (and opts.runs is not false), a `y` column is added and each run's
 * points follow as rows `series=<label>/run <id>, x, , , , y`.
 */
export function toCSV(figure: Figure, opts: { runs?: boolean } = {}): string {
  const withRuns = opts.runs !== false && figure.series.some((s) => s.runs?.length);
  const header = withRuns ? CSV_HEADER_WITH_RUNS : CSV_HEADER;
  const lines: string[] = [header.join(',')];
  for (const s of figure.series) {
    for (const p of s.points) {
      const row = [field(s.label), num(p.x), num(p.mean), num(p.lo), num(p.hi)];
      if (withRuns) row.push('');
      lines.push(row.join(','));
    }
  }
  if (withRuns)
    for (const s of figure.series)
      for (const r of s.runs ?? [])
        for (const p of r.points) lines.push([field(runSeriesName(s.label, r.id)), num(p.x), '', '', '', num(p.y)].join(','));
  return lines.join('\r\n') + '\r\n';
}

/** Parse RFC 4180 CSV (CRLF or LF line ends; quoted fields may hold commas, quotes and newlines). */
export function parseCSV(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cur = '';
  let quoted = false;
  let i = 0;
  let fieldStarted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cur += c;
      i++;
      continue;
    }
    if (c === '"' && cur === '') {
      quoted = true;
      fieldStarted = true;
      i++;
    } else if (c === ',') {
      row.push(cur);
      cur = '';
      fieldStarted = true;
      i++;
    } else if (c === '\r' || c === '\n') {
      row.push(cur);
      rows.push(row);
      row = [];
      cur = '';
      fieldStarted = false;
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      cur += c;
      fieldStarted = true;
      i++;
    }
  }
  if (quoted) throw new Error('CSV: unterminated quoted field');
  if (fieldStarted || cur !== '' || row.length) {
    row.push(cur);
    rows.push(row);
  }
  return rows;
}

/** Read a figure's CSV back: mean points and run points per series name (the inverse of toCSV's values). */
export function readFigureCSV(text: string): {
  series: Map<string, { x: number; mean: number; lo?: number; hi?: number }[]>;
  runs: Map<string, { x: number; y: number }[]>;
} {
  const [header, ...rows] = parseCSV(text);
  if (!header || header[0] !== 'series') throw new Error('CSV: missing the series,x,mean,lo,hi header');
  const col = (n: string) => header.indexOf(n);
  const [ix, im, il, ih, iy] = ['x', 'mean', 'lo', 'hi', 'y'].map(col) as [number, number, number, number, number];
  const opt = (r: string[], i: number) => (i >= 0 && r[i] !== undefined && r[i] !== '' ? Number(r[i]) : undefined);
  const series = new Map<string, { x: number; mean: number; lo?: number; hi?: number }[]>();
  const runs = new Map<string, { x: number; y: number }[]>();
  for (const r of rows) {
    const name = r[0]!;
    const y = opt(r, iy);
    if (y !== undefined) {
      if (!runs.has(name)) runs.set(name, []);
      runs.get(name)!.push({ x: Number(r[ix]), y });
      continue;
    }
    const p: { x: number; mean: number; lo?: number; hi?: number } = { x: Number(r[ix]), mean: Number(r[im]) };
    const lo = opt(r, il);
    const hi = opt(r, ih);
    if (lo !== undefined) p.lo = lo;
    if (hi !== undefined) p.hi = hi;
    if (!series.has(name)) series.set(name, []);
    series.get(name)!.push(p);
  }
  return { series, runs };
}
