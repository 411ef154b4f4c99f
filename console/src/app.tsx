import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { setUnauthorizedHandler } from './api';
import { ClientPage } from './pages/client-detail';
import { ClientsPage } from './pages/clients';
import { RegisterClientPage } from './pages/register-client';
import { ServiceKeysPage } from './pages/service-keys';
import { SignIn } from './pages/sign-in';
import { WebhookPage } from './pages/webhook-deliveries';
import { WebhooksPage } from './pages/webhooks';
import { hrefOf, useRoute, type Route } from './router';
import { clearAdminKey, readAdminKey } from './session';

function Page({ route, onNotice }: { route: Route; onNotice: (message: string) => void }) {
  switch (route.page) {
    case 'client':
      return <ClientPage id={route.id} onNotice={onNotice} />;
    case 'register':
      return <RegisterClientPage />;
    case 'service-keys':
      return <ServiceKeysPage />;
    case 'webhooks':
      return <WebhooksPage />;
    case 'webhook':
      return <WebhookPage id={route.id} />;
    default:
      return <ClientsPage />;
  }
}

function NavLink({ route, current, label }: { route: Route; current: Route; label: string }) {
  const active =
    route.page === current.page ||
    (route.page === 'clients' && current.page === 'client') ||
    (route.page === 'webhooks' && current.page === 'webhook');
  return (
    <a href={hrefOf(route)} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
}

/** The skip link (its own handler: #main is not a route), the sections, and signing out. */
function Header({ route, onSignOut }: { route: Route; onSignOut: () => void }) {
  return (
    <>
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <span class="brand">token-broker</span>
        <nav aria-label="Console">
          <NavLink route={{ page: 'clients' }} current={route} label="Clients" />
          <NavLink route={{ page: 'register' }} current={route} label="Register" />
          <NavLink route={{ page: 'service-keys' }} current={route} label="Service keys" />
          <NavLink route={{ page: 'webhooks' }} current={route} label="Webhooks" />
        </nav>
        <button type="button" class="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </header>
    </>
  );
}

function Notice({ text, onDismiss }: { text: string; onDismiss: () => void }) {
  return (
    <p class="success" role="status">
      {text}{' '}
      <button type="button" class="link" onClick={onDismiss}>
        Dismiss
      </button>
    </p>
  );
}

export function App() {
  const [signedIn, setSignedIn] = useState(() => readAdminKey() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setNotice('The broker refused the admin key (was it removed from BROKER_ADMIN_KEYS?). Sign in again.');
      setSignedIn(false);
    });
  }, []);

  // A new page moves focus to its heading, so keyboard and screen reader users start there. A layout
  // effect: in the same task as the page's render, so nothing sees the new heading before it has focus.
  useLayoutEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [route, signedIn]);

  const signOut = () => {
    clearAdminKey();
    setNotice('Signed out: this tab no longer holds the admin key.');
    setSignedIn(false);
  };

  if (!signedIn) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={() => {
          setNotice(null);
          setSignedIn(true);
        }}
      />
    );
  }
  return (
    <>
      <Header route={route} onSignOut={signOut} />
      <main id="main" tabIndex={-1}>
        {notice && <Notice text={notice} onDismiss={() => setNotice(null)} />}
        <Page route={route} onNotice={setNotice} />
      </main>
      <footer class="foot">
        <a href="/docs">API documentation</a>
      </footer>
    </>
  );
}
