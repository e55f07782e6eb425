/** Figure and table export: a group's figure set, or one figure the UI laid out, as files in the asked formats. */
import type { GroupExportSource } from '../../shared/export/group';
import { exportPreset, figureFiles, groupFiles, safeFileName, toExportFiles } from '../export-files';
import type { ServiceCommands } from './types';

export type ExportCommands = Pick<ServiceCommands, 'exportGroup' | 'exportFigure'>;

/** `source`: the service's own getGroup, getSeries and getRun (a group's data is read as the UI reads it). */
export function exportCommands(source: GroupExportSource): ExportCommands {
  return {
    exportGroup(id, o) {
      const r = groupFiles(source, id, o.formats, exportPreset(o), o.labels ? { labels: o.labels } : {});
      if (!r.ok) return { ok: false, message: r.message };
      return { ok: true, files: toExportFiles(r.files), skipped: r.export.skipped.map((x) => ({ id: x.id, reason: x.reason })) };
    },

    exportFigure(figure, o) {
      return { ok: true, files: toExportFiles(figureFiles(figure, safeFileName(o.name), o.formats, exportPreset(o))) };
    },
  };
}
