/** The lower parts of a run's page: artifacts, config with hashes and environment, samples. */
import { Fragment, useMemo, useState, type ReactElement } from 'react';
import type { RunDetail } from '../../../../shared/contract';
import { formatBytes } from '../../format';
import { SamplesView } from '../../components/SamplesView';

export function Artifacts({ run }: { run: RunDetail }): ReactElement {
  if (!run.artifacts.length)
    return (
      <div className="muted" data-testid="artifacts">
        None yet.
      </div>
    );
  return (
    <table className="table compact" data-testid="artifacts">
      <thead>
        <tr>
          <th>name</th>
          <th>kind</th>
          <th className="num">it</th>
          <th className="num">size</th>
        </tr>
      </thead>
      <tbody>
        {run.artifacts.map((a) => (
          <tr key={`${a.name}:${a.path}`} title={`${run.runDir}/${a.path}`}>
            <td className="mono">{a.name}</td>
            <td>{a.kind}</td>
            <td className="num">{a.iteration ?? '—'}</td>
            <td className="num">{formatBytes(a.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunConfig({ run: r }: { run: RunDetail }): ReactElement {
  return (
    <>
      <pre className="json" data-testid="run-config">
        {JSON.stringify(r.config, null, 2)}
      </pre>
      <dl className="kv small hashes">
        {r.configHash ? (
          <>
            <dt>config hash</dt>
            <dd className="mono ellipsis" title={r.configHash}>
              {r.configHash}
            </dd>
          </>
        ) : null}
        {Object.entries(r.hashes ?? {}).map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd className="mono ellipsis" title={v}>
              {v}
            </dd>
          </Fragment>
        ))}
        <dt>directory</dt>
        <dd className="mono ellipsis" title={r.runDir}>
          {r.runDir}
        </dd>
      </dl>
      {r.env ? (
        <details className="small">
          <summary>environment</summary>
          <pre className="json">{JSON.stringify(r.env, null, 2)}</pre>
        </details>
      ) : null}
    </>
  );
}

/** Collapsed by default; loads samples only once opened. */
export function SamplesPanel({ run }: { run: RunDetail }): ReactElement {
  const [open, setOpen] = useState(false);
  const iterations = useMemo(() => [...new Set(run.phases.map((p) => p.iteration))].sort((a, b) => a - b), [run.phases]);
  return (
    <details className="panel samples-panel" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary className="panel-head" data-testid="samples-toggle">
        <h2>Samples</h2>
      </summary>
      <div className="panel-body">{open ? <SamplesView runId={run.id} iterations={iterations} /> : null}</div>
    </details>
  );
}
