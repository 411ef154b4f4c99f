import { useState } from 'preact/hooks';
import { api, CLIENT_STATES, type ClientState, type ClientView, type TokenHealth } from '../api';
import { ErrorBox } from '../components/error-box';
import { StateBadge } from '../components/state-badge';
import { formatTime, relativeTime } from '../format';
import { usePolling } from '../poll';
import { hrefOf } from '../router';

const PAGE_SIZE = 50;
const POLL_MS = 5_000;
/** Rows that need a person come first. */
const STATE_ORDER: Record<ClientState, number> = { rejected: 0, failing: 1, pending: 2, ready: 3 };

export function orderForAttention(clients: ClientView[]): ClientView[] {
  return [...clients].sort((a, b) => STATE_ORDER[a.status.state] - STATE_ORDER[b.status.state]);
}

/** Clients that need a person, from /health/tokens: kept by counters, so it covers every client, not one page. */
function NeedsAttention({ health }: { health: TokenHealth | null }) {
  if (health === null) return null;
  const { byState } = health;
  return (
    <section aria-labelledby="attention-title" class="card">
      <h2 id="attention-title">Needs attention</h2>
      <p class="summary">
        {health.total} clients: {byState.ready} ready, {byState.pending} pending, {byState.failing} failing,{' '}
        {byState.rejected} rejected. Next refresh {relativeTime(health.nextRefreshAt)}.
      </p>
      {health.failing.length === 0 ? (
        <p>Nothing is failing or rejected.</p>
      ) : (
        <ul class="attention-list">
          {health.failing.map((entry) => (
            <li key={entry.id}>
              <StateBadge state={entry.state} /> <a href={hrefOf({ page: 'client', id: entry.id })}>{entry.id}</a>{' '}
              <span class="muted">
                ({entry.workspaceId}, since {formatTime(entry.failingSince)})
              </span>
              {entry.lastError && <div class="last-error">{entry.lastError}</div>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ClientsTable({ clients }: { clients: ClientView[] }) {
  if (clients.length === 0) return <p>No clients match.</p>;
  return (
    <table class="responsive">
      <caption class="visually-hidden">Clients, failing and rejected first</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Workspace</th>
          <th scope="col">Type</th>
          <th scope="col">State</th>
          <th scope="col">Token expires</th>
          <th scope="col">Last error</th>
        </tr>
      </thead>
      <tbody>
        {clients.map((client) => (
          <tr key={client.id} data-state={client.status.state}>
            <td data-label="Name">
              <a href={hrefOf({ page: 'client', id: client.id })}>{client.name}</a>
              <div class="muted mono">{client.id}</div>
            </td>
            <td data-label="Workspace" class="mono">
              {client.workspaceId}
            </td>
            <td data-label="Type">
              {client.type === 'api_key' ? 'API key' : 'OAuth client'}
              {client.tokenEndpointAuthMethod && <div class="muted mono">{client.tokenEndpointAuthMethod}</div>}
            </td>
            <td data-label="State">
              <StateBadge state={client.status.state} />
            </td>
            <td data-label="Token expires">{relativeTime(client.status.tokenExpiresAt)}</td>
            <td data-label="Last error" class="last-error">
              {client.status.lastError ?? '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface FiltersProps {
  onWorkspace: (workspaceId: string) => void;
  state: ClientState | '';
  onState: (state: ClientState | '') => void;
}

/** The workspace filter asks the API; the state filter narrows the page already loaded. */
function Filters({ onWorkspace, state, onState }: FiltersProps) {
  const [workspaceInput, setWorkspaceInput] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    onWorkspace(workspaceInput.trim());
  };
  return (
    <form class="filters" onSubmit={submit} role="search">
      <div class="field">
        <label for="filter-workspace">Workspace</label>
        <input
          id="filter-workspace"
          value={workspaceInput}
          placeholder="o_abc123 (empty: all)"
          onInput={(event) => setWorkspaceInput((event.currentTarget as HTMLInputElement).value)}
        />
      </div>
      <button type="submit">Filter</button>
      <div class="field">
        <label for="filter-state">State (this page)</label>
        <select
          id="filter-state"
          value={state}
          onChange={(event) => onState((event.currentTarget as HTMLSelectElement).value as ClientState | '')}
        >
          <option value="">any</option>
          {CLIENT_STATES.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
        </select>
      </div>
    </form>
  );
}

function AllClients() {
  const [workspaceId, setWorkspaceId] = useState('');
  const [stateFilter, setStateFilter] = useState<ClientState | ''>('');
  // The cursors of the pages before this one, so Previous can go back.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const page = usePolling(() => api.listClients({ workspaceId, cursor, limit: PAGE_SIZE }), POLL_MS, [
    workspaceId,
    cursor,
  ]);
  const items = page.data?.items ?? [];
  const shown = orderForAttention(items.filter((c) => !stateFilter || c.status.state === stateFilter));
  const nextCursor = page.data?.nextCursor ?? null;

  return (
    <section aria-labelledby="all-clients-title" class="card">
      <h2 id="all-clients-title">All clients</h2>
      <Filters
        onWorkspace={(value) => {
          setWorkspaceId(value);
          setCursors([null]);
        }}
        state={stateFilter}
        onState={setStateFilter}
      />
      <ErrorBox error={page.error} />
      {page.data === null && page.error === null ? <p role="status">Loading…</p> : <ClientsTable clients={shown} />}
      <nav class="pager" aria-label="Pages of clients">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {cursors.length}</span>
        <button type="button" disabled={!nextCursor} onClick={() => nextCursor && setCursors([...cursors, nextCursor])}>
          Next page
        </button>
      </nav>
    </section>
  );
}

export function ClientsPage() {
  const health = usePolling(() => api.tokenHealth(), POLL_MS, []);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>Clients</h1>
        <a class="button primary" href={hrefOf({ page: 'register' })}>
          Register a client
        </a>
      </div>
      <ErrorBox error={health.error} />
      <NeedsAttention health={health.data} />
      <AllClients />
    </>
  );
}
