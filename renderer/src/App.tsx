import type { ReactElement } from 'react';
import { useHashRoute } from './hooks';
import { getTransport } from './transport';
import { RunsPage } from './pages/RunsPage';
import { RunPage } from './pages/run';
import { LaunchPage } from './pages/LaunchPage';
import { SettingsPage } from './pages/SettingsPage';
import { AblatePage } from './pages/AblatePage';
import { GroupsPage } from './pages/GroupsPage';
import { GroupPage } from './pages/GroupPage';
import { ComparePage } from './pages/ComparePage';
import { TracesPage } from './pages/TracesPage';
import { RatePage } from './pages/rate';
import { DatabaseHealthBanner } from './components/DatabaseHealthBanner';

function route(path: string): { page: ReactElement; section: string } {
  const traces = /^\/runs\/([A-Za-z0-9_-]{1,64})\/traces\/?(\?.*)?$/.exec(path);
  if (traces) return { page: <TracesPage key={traces[1]} id={traces[1]!} query={traces[2] ?? ''} />, section: 'runs' };
  if (path.startsWith('/rate')) return { page: <RatePage path={path} />, section: 'rate' };
  const run = /^\/runs\/([A-Za-z0-9_-]{1,64})\/?$/.exec(path);
  if (run) return { page: <RunPage key={run[1]} id={run[1]!} />, section: 'runs' };
  const group = /^\/groups\/([A-Za-z0-9_-]{1,64})\/?$/.exec(path);
  if (group) return { page: <GroupPage key={group[1]} id={group[1]!} />, section: 'groups' };
  if (path.startsWith('/compare')) return { page: <ComparePage path={path} />, section: 'compare' };
  if (path.startsWith('/groups')) return { page: <GroupsPage />, section: 'groups' };
  if (path.startsWith('/ablate')) return { page: <AblatePage />, section: 'ablate' };
  if (path.startsWith('/launch')) return { page: <LaunchPage />, section: 'launch' };
  if (path.startsWith('/settings')) return { page: <SettingsPage />, section: 'settings' };
  if (path === '' || path === '/' || /^\/runs\/?(\?.*)?$/.test(path)) return { page: <RunsPage />, section: 'runs' };
  return { page: <NotFound path={path} />, section: '' };
}

/** A link to a page that does not exist (a typo, a link from a newer version): said, not the runs list. */
function NotFound({ path }: { path: string }): ReactElement {
  return (
    <div className="not-found" data-testid="not-found">
      <h1>Not found</h1>
      <p className="muted">
        There is no page at <span className="mono">#{path}</span>. <a href="#/runs">All runs</a>
      </p>
    </div>
  );
}

export function App(): ReactElement {
  const path = useHashRoute();
  const { page, section } = route(path);
  const kind = getTransport().kind;
  const nav = (id: string, href: string, label: string): ReactElement => (
    <a href={href} className={section === id ? 'active' : undefined} data-testid={`nav-${id}`}>
      {label}
    </a>
  );
  return (
    // the transport (electron-ipc or http) is for the tests and for bug reports, not the screen
    <div className="app" data-transport={kind} data-testid="app">
      <header className="topbar">
        <a className="brand" href="#/runs">
          STaR Lab
        </a>
        <nav>
          {nav('runs', '#/runs', 'Runs')}
          {nav('launch', '#/launch', 'New run')}
          {nav('ablate', '#/ablate', 'New ablation')}
          {nav('groups', '#/groups', 'Groups')}
          {nav('compare', '#/compare', 'Compare')}
          {nav('rate', '#/rate', 'Rate')}
          {nav('settings', '#/settings', 'Settings')}
        </nav>
      </header>
      <DatabaseHealthBanner />
      <main>{page}</main>
    </div>
  );
}
