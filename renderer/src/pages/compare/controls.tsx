/** The compare page's toolbar: y metric, x axis, log y, smoothing, grouping, band, label template. */
import { useState, type ReactElement } from 'react';
import type { Band } from '../../../../shared/stats';
import type { AccountingMetric } from '../../accounting';
import { defaultTemplate, GROUP_BY_PRESETS, X_OPTIONS, type XKind } from '../../compare';
import type { CompareView } from '../../compare-state';

const CUSTOM = '__custom__';

/** The y select's entries: the accounting metrics under their own heading, the others before them. */
export interface MetricOptions {
  other: string[];
  accounting: readonly AccountingMetric[];
}

export function CompareControls({
  view,
  update,
  metricOptions,
  configKeys,
  diffMetrics,
}: {
  view: CompareView;
  update: (patch: Partial<CompareView>) => void;
  metricOptions: MetricOptions;
  configKeys: readonly string[];
  diffMetrics: readonly { metric: string }[];
}): ReactElement {
  const { metric, x, yLog, smoothing, groupBy, band, showRuns, template, perDifficulty } = view;
  // the "config key…" entry of the group-by select was picked (the key is typed next to it)
  const [customKey, setCustomKey] = useState(false);
  const setGroupBy = (g: string): void => update({ groupBy: g, template: null });
  const isPreset = (GROUP_BY_PRESETS as readonly string[]).includes(groupBy);
  const selectValue = customKey || (!isPreset && !configKeys.includes(groupBy)) ? CUSTOM : groupBy;

  return (
    <div className="compare-controls">
      <label>
        Y
        <select value={metric} onChange={(e) => update({ metric: e.target.value })} data-testid="compare-metric">
          {metricOptions.other.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
          {metricOptions.accounting.length ? (
            <optgroup label="Accounting per iteration">
              {metricOptions.accounting.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.label} ({m.name})
                </option>
              ))}
            </optgroup>
          ) : null}
        </select>
      </label>
      <label>
        X
        <select value={x} onChange={(e) => update({ x: e.target.value as XKind })} data-testid="compare-x">
          {X_OPTIONS.map((o) => (
            <option key={o.id} value={o.id}>
              {o.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={yLog} onChange={(e) => update({ yLog: e.target.checked })} data-testid="compare-ylog" /> log Y
      </label>
      <label>
        smoothing
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={smoothing}
          onChange={(e) => update({ smoothing: Number(e.target.value) })}
          data-testid="compare-smoothing"
        />
        <span className="mono small">{smoothing.toFixed(2)}</span>
      </label>
      <label>
        group by
        <select
          value={selectValue}
          onChange={(e) => {
            const v = e.target.value;
            if (v === CUSTOM) setCustomKey(true);
            else {
              setCustomKey(false);
              setGroupBy(v);
            }
          }}
          data-testid="compare-group-by"
        >
          <option value="none">none (one line per run)</option>
          <option value="variant">variant</option>
          <option value="dataset">dataset</option>
          <option value="variant+dataset">variant + dataset</option>
          {configKeys.map((k) => (
            <option key={k} value={k}>
              config: {k}
            </option>
          ))}
          <option value={CUSTOM}>config key…</option>
        </select>
      </label>
      {selectValue === CUSTOM ? (
        <label>
          key
          <input
            type="text"
            list="compare-config-keys"
            placeholder="loop.lr"
            value={isPreset ? '' : groupBy}
            onChange={(e) => setGroupBy(e.target.value.trim() || 'none')}
            data-testid="compare-group-by-key"
          />
          <datalist id="compare-config-keys">
            {configKeys.map((k) => (
              <option key={k} value={k} />
            ))}
          </datalist>
        </label>
      ) : null}
      <label>
        band
        <select value={band} onChange={(e) => update({ band: e.target.value as Band })} data-testid="compare-band">
          <option value="std">± std</option>
          <option value="ci95">95% CI</option>
        </select>
      </label>
      <label>
        <input
          type="checkbox"
          checked={showRuns}
          onChange={(e) => update({ showRuns: e.target.checked })}
          data-testid="compare-show-runs"
        />{' '}
        show individual runs
      </label>
      {diffMetrics.length ? (
        <label title={`one curve per difficulty: ${diffMetrics.map((d) => d.metric).join(', ')}`}>
          <input
            type="checkbox"
            checked={perDifficulty}
            onChange={(e) => update({ perDifficulty: e.target.checked })}
            data-testid="compare-per-difficulty"
          />{' '}
          per difficulty
        </label>
      ) : null}
      <label className="compare-template">
        label
        <input
          type="text"
          value={template ?? defaultTemplate(groupBy)}
          onChange={(e) => update({ template: e.target.value })}
          placeholder="{variant} lr={loop.lr}"
          data-testid="compare-label-template"
        />
      </label>
    </div>
  );
}
