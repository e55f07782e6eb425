import type { ReactElement } from 'react';
import { useHashRoute } from './hooks';
import { getTransport } from './transport';
import { RunsPage } from './pages/RunsPage';
import { RunPage } from './pages/RunPage';
import { LaunchPage } from './pages/LaunchPage';
import { SettingsPage } from './pages/SettingsPage';

function route(path: string): { page: ReactElement; section: string } {
  const run = /^\/runs\/([A-Za-z0-9_-]{1,64})\/?$/.exec(path);
  if (run) return { page: <RunPage key={run[1]} id={run[1]!} />, section: 'runs' };
  if (path.startsWith('/launch')) return { page: <LaunchPage />, section: 'launch' };
  if (path.startsWith('/settings')) return { page: <SettingsPage />, section: 'settings' };
  return { page: <RunsPage />, section: 'runs' };
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
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/runs">
          STaR Lab
        </a>
        <nav>
          {nav('runs', '#/runs', 'Runs')}
          {nav('launch', '#/launch', 'New run')}
          {nav('settings', '#/settings', 'Settings')}
        </nav>
      </header>
      <main>{page}</main>
      <footer className="footer">
        <span>
          transport <span data-testid="transport-kind">{kind}</span>
        </span>
      </footer>
    </div>
  );
}
