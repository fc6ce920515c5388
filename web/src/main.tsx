import './styles.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { onUnauthorized } from './api';
import { Link, navigate, useLocation } from './router';
import { apiKey, signOut } from './session';
import { SignInPage } from './pages/sign-in';
import { InferencesPage } from './pages/inferences';
import { NewInferencePage } from './pages/new-inference';
import { InferencePage } from './pages/inference';
import { ResultMapPage } from './pages/result-map';
import { ModelPage, ModelsPage, RegisterModelPage } from './pages/models';
import { ProcessorPage, ProcessorsPage, UploadProcessorPage } from './pages/processors';
import { SettingsPage } from './pages/settings';
import { PageHeader, useTitle } from './components/ui';

const NAV = [
  { href: '/inferences', label: 'Inferences', match: /^\/inferences(?!\/new)/ },
  { href: '/inferences/new', label: 'New inference', match: /^\/inferences\/new/ },
  { href: '/models', label: 'Models', match: /^\/models/ },
  { href: '/processors', label: 'Processors', match: /^\/processors/ },
  { href: '/settings', label: 'Settings', match: /^\/settings/ },
];

function NotFound() {
  useTitle('Not found');
  return (
    <>
      <PageHeader title="Page not found" />
      <p>
        There is no console page at <code>{location.pathname}</code>.{' '}
        <Link href="/inferences">Go to the inferences</Link>.
      </p>
    </>
  );
}

/** The console's pages (ConsoleController answers index.html for these paths). */
function route(path: string) {
  let match: RegExpExecArray | null;
  if (path === '/inferences') return <InferencesPage />;
  if (path === '/inferences/new') return <NewInferencePage />;
  if ((match = /^\/inferences\/([0-9a-f-]{36})\/map$/.exec(path))) return <ResultMapPage id={match[1]!} />;
  if ((match = /^\/inferences\/([0-9a-f-]{36})$/.exec(path))) return <InferencePage id={match[1]!} />;
  if (path === '/models') return <ModelsPage />;
  if (path === '/models/new') return <RegisterModelPage />;
  if ((match = /^\/models\/([0-9a-f-]{36})$/.exec(path))) return <ModelPage id={match[1]!} />;
  if (path === '/processors') return <ProcessorsPage />;
  if (path === '/processors/new') return <UploadProcessorPage />;
  if ((match = /^\/processors\/([0-9a-f-]{36})$/.exec(path))) return <ProcessorPage id={match[1]!} />;
  if (path === '/settings') return <SettingsPage />;
  return <NotFound />;
}

function App() {
  const { path } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const mainRef = useRef<HTMLElement>(null);
  const firstRender = useRef(true);
  const signedIn = apiKey() !== null;

  useEffect(() => {
    if (!signedIn && path !== '/sign-in')
      navigate(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    else if (signedIn && (path === '/' || path === '/sign-in')) navigate('/inferences', { replace: true });
  }, [signedIn, path]);

  // After a client-side navigation, focus goes to the new page's heading (as a page load would reset it).
  useEffect(() => {
    setMenuOpen(false);
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    requestAnimationFrame(() => mainRef.current?.querySelector<HTMLElement>('h1')?.focus());
  }, [path]);

  if (!signedIn || path === '/sign-in' || path === '/')
    return (
      <main id="main" class="main main-narrow" ref={mainRef}>
        <SignInPage />
      </main>
    );

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link class="brand" href="/inferences">
          <span class="brand-mark" aria-hidden="true" />
          geo-inference
        </Link>
        <button
          type="button"
          class="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <nav id="nav" class={`nav${menuOpen ? ' nav-open' : ''}`} aria-label="Main">
          {NAV.map((item) => (
            <Link href={item.href} aria-current={item.match.test(path) ? 'page' : undefined}>
              {item.label}
            </Link>
          ))}
          <button
            type="button"
            class="nav-signout"
            onClick={() => {
              signOut();
              navigate('/sign-in', { replace: true });
            }}
          >
            Sign out
          </button>
        </nav>
      </header>
      <main id="main" class={`main${/\/map$/.test(path) ? ' main-full' : ''}`} ref={mainRef}>
        {route(path)}
      </main>
    </>
  );
}

onUnauthorized(() => {
  signOut();
  navigate(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}&refused=1`, { replace: true });
});

render(<App />, document.getElementById('app')!);
