import { useEffect, useState } from 'preact/hooks';

/**
 * Routes live in the URL fragment (#/clients/cl_1): the broker serves one
 * index.html, and nothing secret is ever part of a route.
 */
export type Route =
  | { page: 'clients' }
  | { page: 'client'; id: string }
  | { page: 'register' }
  | { page: 'service-keys' }
  | { page: 'webhooks' }
  | { page: 'webhook'; id: string };

const ID = '([A-Za-z0-9_-]{1,64})';

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  const client = new RegExp(`^/clients/${ID}$`).exec(path);
  const webhook = new RegExp(`^/webhooks/${ID}$`).exec(path);
  if (path === '/clients/new') return { page: 'register' };
  if (client) return { page: 'client', id: client[1] };
  if (path === '/service-keys') return { page: 'service-keys' };
  if (path === '/webhooks') return { page: 'webhooks' };
  if (webhook) return { page: 'webhook', id: webhook[1] };
  return { page: 'clients' };
}

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'client':
      return `#/clients/${route.id}`;
    case 'register':
      return '#/clients/new';
    case 'service-keys':
      return '#/service-keys';
    case 'webhooks':
      return '#/webhooks';
    case 'webhook':
      return `#/webhooks/${route.id}`;
    default:
      return '#/clients';
  }
}

export function navigate(route: Route): void {
  window.location.hash = hrefOf(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
