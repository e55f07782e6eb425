import { useState, type ReactElement } from 'react';
import type { ExportFormat, ExportOptions, ExportResult } from '../../../shared/contract';
import { EXPORT_PRESETS } from '../../../shared/export/model';
import { saveFiles } from '../save-files';
import { ErrorNote } from './common';

const LABELS: Record<ExportFormat, string> = {
  svg: 'SVG',
  pdf: 'PDF',
  png: 'PNG 2×/3×',
  csv: 'CSV',
  tex: 'LaTeX table',
  pgf: 'pgfplots',
  py: 'matplotlib',
};

/**
 * Paper export controls: formats, the paper preset (column width), font family and size.
 * `run` asks the service for the files; they are saved through the desktop dialog or
 * downloaded (several as one .zip named `setName`).
 */
export function ExportPanel(props: {
  formats: readonly ExportFormat[];
  setName: string;
  run: (o: ExportOptions) => Promise<ExportResult>;
  disabled?: boolean;
  testId?: string;
}): ReactElement {
  const { formats, setName, run, disabled } = props;
  const tid = props.testId ?? 'export';
  const [chosen, setChosen] = useState<ExportFormat[]>(formats.filter((f) => f === 'svg' || f === 'pdf' || f === 'csv'));
  const [preset, setPreset] = useState<'single-column' | 'double-column'>('single-column');
  const [fontFamily, setFontFamily] = useState<'serif' | 'sans-serif'>('serif');
  // null: the preset's own size (8 pt single column, 9 pt double column)
  const [fontPt, setFontPt] = useState<number | null>(null);
  const presetPt = EXPORT_PRESETS[preset].fontPt;
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const go = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setMessage(null);
    try {
      const r = await run({ formats: chosen, preset, fontFamily, ...(fontPt !== null ? { fontPt } : {}) });
      if (!r.ok) setError(r.message);
      else {
        const skipped = r.skipped?.length
          ? ` ${r.skipped.length} run(s) left out: ${r.skipped.map((s) => `${s.id} (${s.reason})`).join(', ')}.`
          : '';
        setMessage((await saveFiles(r.files, setName)) + skipped);
      }
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="export-panel" data-testid={`${tid}-panel`}>
      <div className="export-row">
        {formats.map((f) => (
          <label key={f} className="small">
            <input
              type="checkbox"
              data-testid={`${tid}-format-${f}`}
              checked={chosen.includes(f)}
              onChange={(e) => setChosen((c) => (e.target.checked ? [...c, f] : c.filter((x) => x !== f)))}
            />{' '}
            {LABELS[f]}
          </label>
        ))}
      </div>
      <div className="export-row">
        <label className="small">
          size{' '}
          <select value={preset} onChange={(e) => setPreset(e.target.value as typeof preset)} data-testid={`${tid}-preset`}>
            <option value="single-column">single column (3.25 in)</option>
            <option value="double-column">double column (6.75 in)</option>
          </select>
        </label>
        <label className="small">
          font{' '}
          <select value={fontFamily} onChange={(e) => setFontFamily(e.target.value as typeof fontFamily)} data-testid={`${tid}-font`}>
            <option value="serif">serif (Times metrics)</option>
            <option value="sans-serif">sans-serif (Arial metrics)</option>
          </select>
        </label>
        <label className="small">
          <input
            type="number"
            min={5}
            max={14}
            step={0.5}
            value={fontPt ?? presetPt}
            onChange={(e) => setFontPt(Math.min(14, Math.max(5, Number(e.target.value) || presetPt)))}
            data-testid={`${tid}-font-size`}
            style={{ width: '4em' }}
          />{' '}
          pt
        </label>
        <button
          type="button"
          className="primary"
          disabled={disabled || busy || !chosen.length}
          onClick={() => void go()}
          data-testid={`${tid}-button`}
        >
          {busy ? 'Exporting…' : 'Export'}
        </button>
      </div>
      {message ? (
        <div className="muted small" data-testid={`${tid}-message`}>
          {message}
        </div>
      ) : null}
      {error ? <ErrorNote>{error}</ErrorNote> : null}
    </div>
  );
}
