/** `starlab` commands: export (registered by cli/main.ts). */
import { resolve } from 'node:path';
import { type Command } from 'commander';
import { LABEL_MAX } from '../../shared/contract';
import { type FieldError } from '../../shared/experiment-config';
import { splitList } from '../../shared/ablation';
import { EXPORT_PRESETS, isPresetName } from '../../shared/export/model';
import { EXPORT_FORMATS, exportPreset, groupFiles, type ExportFormat } from '../../core/export-files';
import { fsErrorMessage } from '../../core/fs-errors';
import { writeFilesSafely } from '../../core/safe-write';
import { out, err, refuse, dataDirOption } from '../io';
import { withService } from '../service-scope';

export function register(program: Command): void {
  program
    .command('export')
    .description("write a group's figure set for a paper: SVG, PDF, PNG (2x, 3x), CSV, LaTeX table, pgfplots (.tex), matplotlib (.py)")
    .argument('<group>', 'group id (or a unique prefix)')
    .option('--format <list>', `comma-separated: ${EXPORT_FORMATS.join(', ')}`, EXPORT_FORMATS.join(','))
    .requiredOption('--out <dir>', 'directory to write into (created if missing)')
    .option('--preset <preset>', `figure size: ${Object.keys(EXPORT_PRESETS).join(' | ')}`, 'single-column')
    .option('--font-family <family>', "serif (Tinos, Times metrics) | sans-serif (Arimo, Arial metrics); default: the preset's")
    .option('--font-size <pt>', "text size in points (5-14); default: the preset's")
    .option('--title <text>', 'each figure\'s title; {dataset} stands for its dataset (default: "{dataset}: held-out accuracy")')
    .option('--x-label <text>', 'the x axis label (default: Iteration)')
    .option('--y-label <text>', "the y axis label (default: the metric's label, Held-out accuracy)")
    .option('--metric <name>', 'the metric plotted and tabulated (default: eval/accuracy), e.g. eval/accuracy/digits_3')
    .option('--force', 'replace files of the same names in DIR (default: refuse, writing nothing)')
    .option('--json', 'machine-readable output: {"ok": true, "group": ID, "files": [PATH, …], "skipped": […]}')
    .addOption(dataDirOption())
    .action(
      async (
        group: string,
        o: {
          format: string;
          out: string;
          preset: string;
          metric?: string;
          title?: string;
          xLabel?: string;
          yLabel?: string;
          fontFamily?: string;
          fontSize?: string;
          force?: boolean;
          json?: boolean;
          dataDir?: string;
        },
      ) => {
        const formats = splitList(o.format);
        const errors: FieldError[] = [];
        const unknown = formats.filter((f) => !EXPORT_FORMATS.includes(f as ExportFormat));
        if (unknown.length)
          errors.push({
            field: 'format',
            message: `unknown format ${unknown.map((f) => `"${f}"`).join(', ')} (available: ${EXPORT_FORMATS.join(', ')})`,
          });
        if (!formats.length) errors.push({ field: 'format', message: 'no format given' });
        if (!isPresetName(o.preset))
          errors.push({ field: 'preset', message: `unknown preset "${o.preset}" (${Object.keys(EXPORT_PRESETS).join(', ')})` });
        if (o.fontFamily !== undefined && o.fontFamily !== 'serif' && o.fontFamily !== 'sans-serif')
          errors.push({ field: 'font-family', message: `unknown font family "${o.fontFamily}" (serif, sans-serif)` });
        const fontPt = o.fontSize === undefined ? undefined : Number(o.fontSize);
        if (fontPt !== undefined && !(Number.isFinite(fontPt) && fontPt >= 5 && fontPt <= 14))
          errors.push({ field: 'font-size', message: `font size "${o.fontSize}" is not a number of points in 5-14` });
        const labels = { title: o.title, xLabel: o.xLabel, yLabel: o.yLabel };
        for (const [flag, text] of [
          ['title', o.title],
          ['x-label', o.xLabel],
          ['y-label', o.yLabel],
        ] as const)
          if (text !== undefined && text.length > LABEL_MAX) errors.push({ field: flag, message: `longer than ${LABEL_MAX} characters` });
        if (errors.length || !isPresetName(o.preset)) return refuse(errors, o.json);
        const preset = exportPreset({ preset: o.preset, fontFamily: o.fontFamily as 'serif' | 'sans-serif' | undefined, fontPt });
        await withService(o.dataDir, async (service) => {
          service.reconcile();
          const groups = service.listGroups();
          const exact = groups.find((g) => g.id === group);
          const matches = exact ? [exact] : groups.filter((g) => g.id.startsWith(group));
          if (matches.length !== 1) {
            const message = matches.length
              ? `"${group}" matches ${matches.length} groups: ${matches
                  .slice(0, 5)
                  .map((g) => g.id)
                  .join(', ')}`
              : `no group "${group}"`;
            if (o.json) out(JSON.stringify({ ok: false, message }));
            err(`starlab: ${message}`);
            process.exitCode = 1;
            return;
          }
          const r = groupFiles(service, matches[0]!.id, formats as ExportFormat[], preset, {
            ...(o.metric ? { metric: o.metric } : {}),
            labels: Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== undefined)),
          });
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
        });
      },
    );
}
