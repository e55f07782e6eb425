/**
 * The paper export as files: one figure (the compare view's) or a group's whole figure set
 * (a figure per dataset + the results table), in any of the formats. The CLI writes these
 * to a folder; the service returns them to the UI, which saves them (native dialog in the
 * desktop app, downloads in browser mode). One code path, so every host exports the same.
 */
import { toCSV } from '../shared/export/csv';
import {
  buildGroupExport,
  EXPORT_METRIC,
  labelOf,
  type GroupExport,
  type GroupExportSource,
  type GroupLabels,
} from '../shared/export/group';
import { escapeLatex, latexTable } from '../shared/export/latex';
import { matplotlibScript } from '../shared/export/matplotlib';
import { EXPORT_PRESETS, type ExportPreset, type Figure } from '../shared/export/model';
import { pgfplotsFigure, pgfplotsStandalone } from '../shared/export/pgfplots';
import { EXPORT_FORMATS, type ExportFile, type ExportFormat, type ExportOptions } from '../shared/contract';
import { BEST_DEFINITION } from '../shared/stats';
import { renderFigureFiles, type FigureFormat } from './figure-render';

export { EXPORT_FORMATS, type ExportFormat };

const MIME: Record<string, string> = {
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  png: 'image/png',
  csv: 'text/csv',
  tex: 'application/x-tex',
  py: 'text/x-python',
};

export interface FileOut {
  name: string;
  data: Buffer;
}

/** A file-name-safe form of a name (letters, digits, . _ - kept). */
export function safeFileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || '_';
}

/** The preset an export uses: a named one, with the font family / size overridden if asked. */
export function exportPreset(o: Pick<ExportOptions, 'preset' | 'fontFamily' | 'fontPt'>): ExportPreset {
  const base = EXPORT_PRESETS[o.preset ?? 'single-column'];
  return { ...base, ...(o.fontFamily ? { fontFamily: o.fontFamily } : {}), ...(o.fontPt ? { fontPt: o.fontPt } : {}) };
}

const FIGURE_FORMATS: FigureFormat[] = ['svg', 'pdf', 'png'];

/** One figure in the asked formats, named `<base>.<ext>` (`.pgf.tex` + `.standalone.tex` for pgf; the .py reads the CSV, so it comes with it). */
export function figureFiles(figure: Figure, base: string, formats: readonly ExportFormat[], preset: ExportPreset): FileOut[] {
  const want = new Set(formats);
  const out: FileOut[] = [];
  const text = (name: string, s: string) => out.push({ name, data: Buffer.from(s, 'utf8') });
  const figs = FIGURE_FORMATS.filter((f) => want.has(f));
  if (figs.length) out.push(...renderFigureFiles(figure, base, figs, preset));
  if (want.has('csv') || want.has('py')) text(`${base}.csv`, toCSV(figure));
  if (want.has('pgf')) {
    text(`${base}.pgf.tex`, pgfplotsFigure(figure, preset));
    text(`${base}.standalone.tex`, pgfplotsStandalone(figure, preset));
  }
  if (want.has('py')) text(`${base}.py`, matplotlibScript(`${base}.csv`, figure, preset));
  return out;
}

export type GroupFiles =
  { ok: true; export: GroupExport; files: FileOut[] } | { ok: false; message: string; skipped: GroupExport['skipped'] };

/**
 * A group's figure set: per dataset `<dataset>-accuracy.*`, and `table.tex` (booktabs,
 * final / best mean ± std over seeds, best in bold) when tex is asked for. Refused (ok:
 * false) when no run of the group completed with an evaluation.
 */
export function groupFiles(
  source: GroupExportSource,
  groupId: string,
  formats: readonly ExportFormat[],
  preset: ExportPreset,
  o: { metric?: string; labels?: Partial<GroupLabels> } = {},
): GroupFiles {
  const x = buildGroupExport(source, groupId, o);
  if (!x.table.rows.length)
    return { ok: false, message: `group ${x.groupId} has no completed run with ${x.metric}: nothing to export`, skipped: x.skipped };
  const files: FileOut[] = [];
  const stem = x.metric === EXPORT_METRIC ? 'accuracy' : safeFileName(x.metric);
  for (const { dataset, figure } of x.figures) files.push(...figureFiles(figure, `${safeFileName(dataset)}-${stem}`, formats, preset));
  // another metric prints as a percentage only where every value is a fraction (an accuracy)
  const isDefault = x.metric === EXPORT_METRIC;
  const percent = isDefault || x.table.rows.every((r) => [r.finalMean, r.bestMean].every((v) => v >= 0 && v <= 1));
  const what = isDefault ? labelOf(EXPORT_METRIC) : x.metric;
  if (formats.includes('tex'))
    files.push({
      name: 'table.tex',
      data: Buffer.from(
        latexTable(x.table, {
          // the caption states the one definition of "best" the compare table states (shared/stats.ts)
          caption: `${x.groupName}: ${what}${percent ? ' (%)' : ''}, mean and sample std over seeds. Final = each run's last evaluation. ${BEST_DEFINITION}.`,
          label: `tab:${safeFileName(x.groupId)}`,
          percent,
          ...(isDefault ? {} : { metricLabel: `${escapeLatex(x.metric)}${percent ? ' (\\%)' : ''}` }),
        }),
        'utf8',
      ),
    });
  return { ok: true, export: x, files };
}

/** Files for the contract (base64 payloads with a MIME type). */
export function toExportFiles(files: FileOut[]): ExportFile[] {
  return files.map((f) => ({
    name: f.name,
    mime: MIME[f.name.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream',
    base64: f.data.toString('base64'),
  }));
}
