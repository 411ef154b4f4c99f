import { useState } from 'preact/hooks';
import { api, ApiError, type AuditEvent, type ClientView } from '../api';
import { ConfirmDialog } from '../components/confirm-dialog';
import { ErrorBox } from '../components/error-box';
import { StateBadge } from '../components/state-badge';
import { formatTime, relativeTime } from '../format';
import { usePolling } from '../poll';
import { hrefOf, navigate } from '../router';
import { detailRows } from './client/detail-rows';
import { RotateForm } from './client/rotate-form';

const POLL_MS = 3_000;

const CERTIFICATE_WARNING_DAYS = 14;

function inDays(expiresAt: string, left: number): string {
  const days = Math.floor(left / 86_400_000);
  return days >= 1 ? `in ${days} day${days === 1 ? '' : 's'}` : relativeTime(expiresAt);
}

/** A tls_client_auth certificate near its end (when the broker raises client.certificate_expiring): rotate it. */
function CertificateWarning({ expiresAt }: { expiresAt: string | null }) {
  if (!expiresAt) return null;
  const left = new Date(expiresAt).getTime() - Date.now();
  if (left > CERTIFICATE_WARNING_DAYS * 86_400_000) return null;
  return (
    <p class="last-error" id="certificate-warning">
      {left <= 0 ? 'The client certificate has expired' : `The client certificate ends ${inDays(expiresAt, left)}`}:
      rotate it below.
    </p>
  );
}

function Details({ client }: { client: ClientView }) {
  const rows = detailRows(client);
  const { status } = client;
  return (
    <section aria-labelledby="status-title" class="card">
      <h2 id="status-title">Status</h2>
      <p class="state-line" role="status">
        <StateBadge state={status.state} /> Token expires {relativeTime(status.tokenExpiresAt)}; last refresh{' '}
        {formatTime(status.lastRefreshAt)}.
      </p>
      {status.lastError && (
        <p class="last-error" id="last-error">
          Upstream said: {status.lastError}
          {status.failingSince ? ` (since ${formatTime(status.failingSince)})` : ''}
        </p>
      )}
      <CertificateWarning expiresAt={client.certificateExpiresAt ?? null} />
      <dl class="details">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd class="mono">{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function AuditList({ clientId }: { clientId: string }) {
  const [older, setOlder] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const latest = usePolling(() => api.auditEvents({ clientId, limit: 20 }), POLL_MS, [clientId]);
  const nextCursor = older.length > 0 ? cursor : (latest.data?.nextCursor ?? null);
  const events = [...(latest.data?.items ?? []), ...older];

  const loadMore = async () => {
    if (!nextCursor) return;
    const page = await api.auditEvents({ clientId, cursor: nextCursor, limit: 20 });
    setOlder([...older, ...page.items]);
    setCursor(page.nextCursor);
  };

  return (
    <section aria-labelledby="audit-title" class="card">
      <h2 id="audit-title">Audit events</h2>
      <ErrorBox error={latest.error} />
      {events.length === 0 ? (
        <p>No events yet.</p>
      ) : (
        <table class="responsive">
          <caption class="visually-hidden">Audit events of this client, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">Actor</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.id}>
                <td data-label="When">{formatTime(event.at)}</td>
                <td data-label="Action" class="mono">
                  {event.action}
                </td>
                <td data-label="Actor" class="mono">
                  {event.actor}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {nextCursor && (
        <button type="button" onClick={loadMore}>
          Older events
        </button>
      )}
    </section>
  );
}

/** Still loading, or not there (deleted, or a mistyped id): says which. */
function NotLoaded({ id, error }: { id: string; error: ApiError | null }) {
  return (
    <>
      <h1 tabIndex={-1}>Client {id}</h1>
      <ErrorBox error={error} />
      {!error && <p role="status">Loading…</p>}
      <p>
        <a href={hrefOf({ page: 'clients' })}>Back to the clients</a>
      </p>
    </>
  );
}

export function ClientPage({ id, onNotice }: { id: string; onNotice: (message: string) => void }) {
  const polled = usePolling(() => api.getClient(id), POLL_MS, [id]);
  const [confirming, setConfirming] = useState(false);
  const [deleteError, setDeleteError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const client = polled.data;

  const remove = async () => {
    setBusy(true);
    try {
      await api.deleteClient(id);
      onNotice(`Client ${client?.name ?? id} deleted.`);
      navigate({ page: 'clients' });
    } catch (reason) {
      setDeleteError(reason as ApiError);
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  if (client === null) return <NotLoaded id={id} error={polled.error} />;
  return (
    <>
      <p class="breadcrumb">
        <a href={hrefOf({ page: 'clients' })}>Clients</a> / {client.workspaceId}
      </p>
      <div class="page-head">
        <h1 tabIndex={-1}>{client.name}</h1>
        <button type="button" class="danger" onClick={() => setConfirming(true)}>
          Delete client
        </button>
      </div>
      <ErrorBox error={polled.error ?? deleteError} />
      <Details client={client} />
      <RotateForm client={client} onRotated={polled.reload} />
      <AuditList clientId={client.id} />
      <ConfirmDialog
        open={confirming}
        title="Delete this client?"
        confirmLabel="Delete"
        busy={busy}
        onConfirm={remove}
        onCancel={() => setConfirming(false)}
      >
        <p>
          <strong>{client.name}</strong> ({client.workspaceId}) and its tokens are removed on every replica. Services
          asking for its token get 404.
        </p>
      </ConfirmDialog>
    </>
  );
}
