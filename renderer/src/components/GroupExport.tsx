/** A group's paper export: the figures' title (a template over the dataset) and axis labels, editable, then the export panel. */
import { useState, type ReactElement } from 'react';
import { EXPORT_FORMATS } from '../../../shared/export/formats';
import { defaultGroupLabels, titleFor, type GroupLabels } from '../../../shared/export/group';
import { call } from '../transport';
import { ExportPanel } from './ExportPanel';
import { LabelField } from './label-field';

export function GroupExport({ id, datasets, disabled }: { id: string; datasets: string[]; disabled: boolean }): ReactElement {
  const defaults = defaultGroupLabels();
  // only what the user edited is sent: the rest stays the service's default
  const [edited, setEdited] = useState<Partial<GroupLabels>>({});
  const labels = { ...defaults, ...edited };
  const field = (key: keyof GroupLabels, label: string) => (
    <LabelField label={label} testId={`group-export-${key}`} value={labels[key]} onChange={(v) => setEdited((e) => ({ ...e, [key]: v }))} />
  );
  const example = datasets[0] ?? 'gsm8k';
  return (
    <details className="export-details" data-testid="group-export">
      <summary>
        Export for the paper: a figure per dataset (mean ± std over seeds), the results table, the data and the figures as code
      </summary>
      <div className="export-labels">
        {field('title', 'title ({dataset}: each figure’s dataset)')}
        {field('xLabel', 'x axis')}
        {field('yLabel', 'y axis')}
      </div>
      <div className="muted small" data-testid="group-export-title-example">
        e.g. “{titleFor(labels.title, example)}”
      </div>
      <ExportPanel
        formats={EXPORT_FORMATS}
        setName={`starlab-${id}`}
        run={(o) => call('exportGroup', id, { ...o, labels: edited })}
        disabled={disabled}
        testId="group-export"
      />
    </details>
  );
}
