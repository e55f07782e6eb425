import { axisLabelOf } from '../../../shared/export/group';
import { useCallback, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import type { RunSummary } from '../../../shared/contract';
import { call } from '../transport';
import { ACCOUNTING_METRICS } from '../accounting';
import { useDebounced, useLive, useRunsChanged } from '../hooks';
import { useHashState, type HashCodec } from '../hash-state';
import { ErrorNote } from '../components/common';
import { CompareChart } from '../components/CompareChart';
import { ExportPanel } from '../components/ExportPanel';
import {
  axisKindOf,
  buildGroups,
  compareFigure,
  difficultyMetrics,
  perDifficultyGroups,
  defaultTemplate,
  flattenConfig,
  metricsToFetch,
  tableRows,
  X_OPTIONS,
  type CompareRun,
} from '../compare';
import { compareViewFromHash, compareViewToHash, isCompareHash, roundRange, updateCompareView, type CompareView } from '../compare-state';
import { CompareRunList } from './compare/run-list';
import { CompareControls, type MetricOptions } from './compare/controls';
import { CompareTable } from './compare/table';
import { LabelField } from '../components/label-field';

/** The URL follows the view this long after its last change (a dragged slider, typing). */
const URL_WRITE_DELAY_MS = 150;
const CHART_HEIGHT = 340;
const NO_RUNS: readonly string[] = [];

/** The view <-> `#/compare?…` (compare-state.ts); other pages' hashes are not the view's. */
const HASH_CODEC: HashCodec<CompareView> = {
  toHash: compareViewToHash,
  fromHash: (hash) => (isCompareHash(hash) ? compareViewFromHash(hash) : null),
};

export function ComparePage({ path }: { path: string }): ReactElement {
  // ---- the view: one object, kept in the URL (#/compare?group=…&runs=…&metric=…: compare-state.ts)
  const [view, setView] = useHashState<CompareView>(() => compareViewFromHash(path), HASH_CODEC, URL_WRITE_DELAY_MS);
  const update = useCallback((patch: Partial<CompareView>) => setView((v) => updateCompareView(v, patch)), [setView]);
  const { group: groupId, metric, x, yLog, smoothing, groupBy, band, showRuns, template, perDifficulty, filter } = view;

  const runsLive = useLive(() => call('listRuns'), []);
  useRunsChanged(() => runsLive.reload());
  const allRuns = useMemo(() => runsLive.data ?? [], [runsLive.data]);

  // ---- selection: the URL's runs; opened from a group (?group=), the group's runs until picked by hand
  const groupLive = useLive(
    () => (groupId === null ? Promise.resolve(null) : call('getGroup', groupId).then((g) => ({ id: groupId, g }))),
    [groupId],
  );
  // undefined while the answer for this group is not in; g null: no such group
  const groupAnswer = groupId !== null && groupLive.data?.id === groupId ? groupLive.data : undefined;
  const groupRunIds = useMemo(() => groupAnswer?.g?.runs.map((r) => r.id) ?? null, [groupAnswer]);
  const queryError = groupId === null ? null : (groupLive.error ?? (groupAnswer && !groupAnswer.g ? `No group "${groupId}".` : null));
  const selected: readonly string[] = view.runs ?? groupRunIds ?? NO_RUNS;
  const setSelected = (runs: readonly string[]): void => update({ runs });

  const byId = useMemo(() => new Map(allRuns.map((r) => [r.id, r])), [allRuns]);
  const selectedRuns = useMemo(() => selected.map((id) => byId.get(id)).filter((r): r is RunSummary => !!r), [selected, byId]);
  const ids = useMemo(() => selectedRuns.map((r) => r.id), [selectedRuns]);
  const idsKey = ids.join(',');

  // ---- options
  const groupByDeb = useDebounced(groupBy, 250);
  // a typed template waits for the typing to pause; the default follows the (debounced) grouping it belongs to
  const templateDeb = useDebounced(template, 200);
  const effTemplate = template === null ? defaultTemplate(groupByDeb) : (templateDeb ?? defaultTemplate(groupByDeb));

  // ---- data; each answer carries the key it was asked for, so an answer for other runs or
  // metrics (before the new one is in) is never drawn and the page can say it is loading
  const names = useLive(() => (ids.length ? call('metricNames', ids) : Promise.resolve([])).then((d) => ({ key: idsKey, d })), [idsKey]);
  const nameList = names.data?.key === idsKey ? names.data.d : undefined;
  const diffMetrics = useMemo(
    () =>
      difficultyMetrics(
        metric,
        (nameList ?? []).map((n) => n.name),
      ).slice(0, 40),
    [metric, nameList],
  );
  const byDifficulty = perDifficulty && diffMetrics.length > 0;
  const fetchNames = [...new Set([...metricsToFetch(metric, x), ...(byDifficulty ? diffMetrics.map((d) => d.metric) : [])])];
  const seriesKey = JSON.stringify([idsKey, fetchNames]);
  const series = useLive(
    () => (ids.length ? call('getSeriesColumns', ids, fetchNames) : Promise.resolve({})).then((d) => ({ key: seriesKey, d })),
    [seriesKey],
  );
  const seriesData = series.data?.key === seriesKey ? series.data.d : undefined;
  useRunsChanged((changed) => {
    if (changed === 'all' || changed.some((id) => ids.includes(id))) series.reload();
  }, 1000);

  // configs, fetched once per run (a run's config does not change); looked for when the ids
  // change, not on every refresh of the list (a failed fetch is tried again with the next ids)
  const [configs, setConfigs] = useState<Record<string, unknown>>({});
  const requested = useRef(new Set<string>());
  const idsRef = useRef(ids);
  idsRef.current = ids;
  useEffect(() => {
    const missing = idsRef.current.filter((id) => !requested.current.has(id));
    if (!missing.length) return;
    for (const id of missing) requested.current.add(id);
    // one read for every run's config (a run page's getRun each would carry its curves too), one render
    call('getRunConfigs', missing)
      .then((got) => setConfigs((c) => ({ ...c, ...Object.fromEntries(missing.map((id) => [id, got[id] ?? {}])) })))
      .catch(() => {
        for (const id of missing) requested.current.delete(id);
      });
  }, [idsKey]);

  const configKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const id of ids) for (const k of Object.keys(flattenConfig(configs[id] ?? {}))) keys.add(k);
    return [...keys].sort();
  }, [ids, configs]);

  const compareRuns: CompareRun[] = useMemo(
    () => selectedRuns.map((r) => ({ summary: r, config: configs[r.id] })),
    [selectedRuns, configs],
  );
  const groups = useMemo(() => {
    const input = { runs: compareRuns, series: seriesData ?? {}, x, groupBy: groupByDeb, template: effTemplate, smoothing, band };
    return byDifficulty ? perDifficultyGroups(input, diffMetrics) : buildGroups({ ...input, metric });
  }, [compareRuns, seriesData, metric, x, groupByDeb, effTemplate, smoothing, band, byDifficulty, diffMetrics]);
  const rows = useMemo(() => tableRows(groups, seriesData ?? {}, metric), [groups, seriesData, metric]);

  // what is still loading: until it is in, neither "pick runs" nor "no data" is true yet
  const loading =
    runsLive.data === undefined && !runsLive.error
      ? 'Loading the runs…'
      : view.runs === null && groupId !== null && groupAnswer === undefined && !groupLive.error
        ? 'Loading the group…'
        : ids.length > 0 && ((seriesData === undefined && !series.error) || (perDifficulty && nameList === undefined && !names.error))
          ? 'Loading the series…'
          : null;

  // the accounting metrics (attempted, solved, rationalized, kept, tokens, seconds per phase) under their own heading
  const metricOptions = useMemo((): MetricOptions => {
    const list = (nameList ?? []).map((n) => n.name);
    if (!list.includes(metric)) list.unshift(metric);
    const accounting = ACCOUNTING_METRICS.filter((m) => list.includes(m.name));
    const inAccounting = new Set(accounting.map((m) => m.name));
    return { other: list.filter((m) => !inAccounting.has(m)), accounting };
  }, [nameList, metric]);

  const xLabel = X_OPTIONS.find((o) => o.id === x)?.label ?? x;
  // what an export is labelled: readable defaults (the catalogue's words), editable before exporting
  const [exportText, setExportText] = useState<{ title?: string; x?: string; y?: string }>({});
  // labels edited for one chart do not carry over to another metric or axis
  useEffect(() => setExportText({}), [metric, x, byDifficulty]);
  const defaultYLabel = `${axisLabelOf(metric)}${byDifficulty ? ' by difficulty' : ''}`;
  const xLabelText = xLabel.charAt(0).toUpperCase() + xLabel.slice(1);
  const defaultTitle = `${axisLabelOf(metric)} by ${xLabel}`;

  return (
    <div className="page compare-page" data-testid="compare-page">
      <div className="page-head">
        <h1>Compare runs</h1>
        <span className="muted small">
          {selectedRuns.length} selected{groupId ? ` · group ${groupId}` : ''}
        </span>
      </div>
      {queryError ? <ErrorNote>{queryError}</ErrorNote> : null}
      {runsLive.error ? <ErrorNote>Could not list runs: {runsLive.error}</ErrorNote> : null}
      <div className="compare-grid">
        <CompareRunList
          runs={allRuns}
          loading={runsLive.loading}
          filter={filter}
          onFilter={(f) => update({ filter: f })}
          selected={selected}
          setSelected={setSelected}
        />
        <section className="compare-main">
          <CompareControls view={view} update={update} metricOptions={metricOptions} configKeys={configKeys} diffMetrics={diffMetrics} />
          {series.error ? <ErrorNote>Could not load the series: {series.error}</ErrorNote> : null}
          {/^eval\/(base_)?accuracy(\/|$)/.test(metric) && selectedRuns.some((r) => r.variant === 'quiet-star') ? (
            <div className="muted small" data-testid="compare-quiet-metric-note">
              Quiet-STaR&apos;s <code>{metric}</code> is the paper&apos;s teacher-forced gold-answer probability, not exact match (that is{' '}
              <code>eval/exact_match</code>); Quiet-STaR runs without <code>eval/exact_match</code> predate it and logged exact match here.
            </div>
          ) : null}
          {!loading && selectedRuns.length === 0 ? (
            <div className="empty" data-testid="compare-empty">
              Pick runs on the left (or open a group and press Compare).
            </div>
          ) : null}
          {loading ? (
            // in place of the chart (which would say "No data" while there is none yet), same size
            <div className="chart compare-chart" data-testid="compare-chart" data-series-count={0} data-loading="yes">
              <div className="chart-empty" style={{ height: CHART_HEIGHT }} data-testid="compare-loading">
                {loading}
              </div>
            </div>
          ) : (
            <CompareChart
              groups={groups}
              yLog={yLog}
              smoothing={smoothing}
              showRuns={showRuns}
              xLabel={xLabel}
              xKind={axisKindOf(x)}
              yLabel={metric}
              zoom={{
                range: view.xRange as [number, number] | null,
                onChange: (r) => update({ xRange: r && roundRange(r) }),
              }}
              height={CHART_HEIGHT}
            />
          )}
          {groups.length ? (
            <details className="export-details" data-testid="compare-export">
              <summary>Export this chart for the paper (as drawn: grouping, x axis, y range, smoothing, band, log y)</summary>
              <div className="export-labels">
                <LabelField
                  label="title"
                  testId="export-title"
                  value={exportText.title ?? defaultTitle}
                  onChange={(title) => setExportText((t) => ({ ...t, title }))}
                />
                <LabelField
                  label="x axis"
                  testId="export-x-label"
                  value={exportText.x ?? xLabelText}
                  onChange={(x) => setExportText((t) => ({ ...t, x }))}
                />
                <LabelField
                  label="y axis"
                  testId="export-y-label"
                  value={exportText.y ?? defaultYLabel}
                  onChange={(y) => setExportText((t) => ({ ...t, y }))}
                />
              </div>
              <ExportPanel
                formats={['svg', 'pdf', 'png', 'csv', 'pgf', 'py']}
                setName="starlab-compare"
                testId="compare-export"
                run={(o) =>
                  call(
                    'exportFigure',
                    compareFigure(groups, {
                      title: exportText.title ?? defaultTitle,
                      xLabel: exportText.x ?? xLabelText,
                      yLabel: exportText.y ?? defaultYLabel,
                      xKind: axisKindOf(x),
                      xRange: view.xRange,
                      yLog,
                      showRuns,
                    }),
                    {
                      ...o,
                      name: `compare-${metric}${byDifficulty ? '-by-difficulty' : ''}`,
                    },
                  )
                }
              />
            </details>
          ) : null}
          <CompareTable rows={rows} byRun={groupBy === 'none'} />
        </section>
      </div>
    </div>
  );
}
