import { useState } from 'preact/hooks';
import { api, ApiError, type Delivery, type Webhook } from '../api';
import { ErrorBox } from '../components/error-box';
import { formatTime } from '../format';
import { usePolling } from '../poll';
import { hrefOf } from '../router';

const POLL_MS = 3_000;
const PAGE_SIZE = 25;

function DeliveriesTable({ deliveries }: { deliveries: Delivery[] }) {
  if (deliveries.length === 0) return <p>No deliveries yet.</p>;
  return (
    <table class="responsive">
      <caption class="visually-hidden">Deliveries of this webhook, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Event</th>
          <th scope="col">State</th>
          <th scope="col">Attempts</th>
          <th scope="col">Last status</th>
          <th scope="col">Last attempt</th>
          <th scope="col">Next attempt</th>
        </tr>
      </thead>
      <tbody>
        {deliveries.map((delivery) => (
          <tr key={delivery.id} data-delivery-state={delivery.state}>
            <td data-label="Event">
              <span class="mono">{delivery.type}</span>
              <div class="muted mono">{delivery.eventId}</div>
            </td>
            <td data-label="State">
              <span class={`badge badge-delivery-${delivery.state}`}>{delivery.state}</span>
            </td>
            <td data-label="Attempts">{delivery.attempts}</td>
            <td data-label="Last status">{delivery.lastStatus ?? '—'}</td>
            <td data-label="Last attempt">{formatTime(delivery.lastAttemptAt)}</td>
            <td data-label="Next attempt">{formatTime(delivery.nextAttemptAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The newest page, polled, then older pages appended by cursor (the API lists newest first). */
function Deliveries({ id }: { id: string }) {
  const [older, setOlder] = useState<Delivery[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const latest = usePolling(() => api.deliveries(id, { limit: PAGE_SIZE }), POLL_MS, [id]);
  const nextCursor = older.length > 0 ? cursor : (latest.data?.nextCursor ?? null);
  const seen = new Set((latest.data?.items ?? []).map((delivery) => delivery.id));
  const rows = [...(latest.data?.items ?? []), ...older.filter((delivery) => !seen.has(delivery.id))];

  const loadMore = async () => {
    if (!nextCursor) return;
    try {
      const page = await api.deliveries(id, { cursor: nextCursor, limit: PAGE_SIZE });
      setOlder([...older, ...page.items]);
      setCursor(page.nextCursor);
    } catch (reason) {
      setError(reason as ApiError);
    }
  };
  return (
    <section class="card" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <div class="row-actions">
        <button type="button" onClick={latest.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={latest.error ?? error} />
      {latest.data === null && latest.error === null ? (
        <p role="status">Loading…</p>
      ) : (
        <DeliveriesTable deliveries={rows} />
      )}
      {nextCursor && (
        <button type="button" onClick={loadMore}>
          Older deliveries
        </button>
      )}
    </section>
  );
}

function Summary({ webhook }: { webhook: Webhook | undefined }) {
  if (!webhook) return null;
  const rows: [string, string][] = [
    ['Id', webhook.id],
    ['Events', webhook.events.join(', ')],
    ['Workspaces', webhook.workspaces.join(', ')],
    ['Created', formatTime(webhook.createdAt)],
  ];
  return (
    <section class="card" aria-labelledby="webhook-settings-title">
      <h2 id="webhook-settings-title">Settings</h2>
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

export function WebhookPage({ id }: { id: string }) {
  const list = usePolling(() => api.listWebhooks(), 30_000, [id]);
  const webhook = list.data?.items.find((item) => item.id === id);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const sendTest = async () => {
    setNotice(null);
    setError(null);
    try {
      await api.testWebhook(id);
      setNotice('A webhook.test event is queued; it appears below.');
    } catch (reason) {
      setError(reason as ApiError);
    }
  };
  return (
    <>
      <p class="breadcrumb">
        <a href={hrefOf({ page: 'webhooks' })}>Webhooks</a> / {id}
      </p>
      <div class="page-head">
        <h1 tabIndex={-1}>Webhook {webhook ? webhook.url : id}</h1>
        <button type="button" onClick={sendTest}>
          Send test
        </button>
      </div>
      {notice && (
        <p class="success" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={list.error ?? error} />
      {list.data && !webhook && <p>This webhook is not listed (deleted?).</p>}
      <Summary webhook={webhook} />
      <Deliveries id={id} />
    </>
  );
}
