import { useState } from 'preact/hooks';
import { api, ApiError, type CreatedWebhook, type Webhook } from '../api';
import { ConfirmDialog } from '../components/confirm-dialog';
import { CopyOnce } from '../components/copy-once';
import { ErrorBox } from '../components/error-box';
import { formatTime } from '../format';
import { usePolling } from '../poll';
import { hrefOf } from '../router';
import { CreateWebhookForm } from './webhooks/create-webhook';

const POLL_MS = 10_000;

interface RowActions {
  onTest: (webhook: Webhook) => void;
  onDelete: (webhook: Webhook) => void;
}

function WebhookRow({ webhook, onTest, onDelete }: { webhook: Webhook } & RowActions) {
  return (
    <tr>
      <td data-label="URL">
        <a href={hrefOf({ page: 'webhook', id: webhook.id })} class="mono">
          {webhook.url}
        </a>
        <div class="muted mono">{webhook.id}</div>
      </td>
      <td data-label="Events" class="mono">
        {webhook.events.join(', ')}
      </td>
      <td data-label="Workspaces" class="mono">
        {webhook.workspaces.join(', ')}
      </td>
      <td data-label="Created">{formatTime(webhook.createdAt)}</td>
      <td data-label="Actions">
        <div class="row-actions">
          <button type="button" onClick={() => onTest(webhook)} aria-label={`Send test to ${webhook.url}`}>
            Send test
          </button>
          <button
            type="button"
            class="danger"
            onClick={() => onDelete(webhook)}
            aria-label={`Delete webhook ${webhook.url}`}
          >
            Delete
          </button>
        </div>
      </td>
    </tr>
  );
}

function WebhooksTable({ webhooks, ...actions }: { webhooks: Webhook[] } & RowActions) {
  if (webhooks.length === 0) return <p>No webhooks yet.</p>;
  return (
    <table class="responsive">
      <caption class="visually-hidden">Webhooks</caption>
      <thead>
        <tr>
          <th scope="col">URL</th>
          <th scope="col">Events</th>
          <th scope="col">Workspaces</th>
          <th scope="col">Created</th>
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {webhooks.map((webhook) => (
          <WebhookRow key={webhook.id} webhook={webhook} {...actions} />
        ))}
      </tbody>
    </table>
  );
}

/** Test events and deletion, each answered with a notice or an error. */
function useWebhookActions(reload: () => void) {
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const act = async (work: () => Promise<void>, done: string) => {
    setError(null);
    setNotice(null);
    try {
      await work();
      setNotice(done);
      reload();
    } catch (reason) {
      setError(reason as ApiError);
    }
  };
  const test = (webhook: Webhook) =>
    act(() => api.testWebhook(webhook.id), `A webhook.test event is queued for ${webhook.url}; see its deliveries.`);
  const remove = async () => {
    if (deleting === null) return;
    const webhook = deleting;
    await act(() => api.deleteWebhook(webhook.id), `Webhook ${webhook.url} deleted: it gets no more events.`);
    setDeleting(null);
  };
  return { deleting, setDeleting, error, notice, test, remove };
}

export function WebhooksPage() {
  const webhooks = usePolling(() => api.listWebhooks(), POLL_MS, []);
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const actions = useWebhookActions(webhooks.reload);
  return (
    <>
      <h1 tabIndex={-1}>Webhooks</h1>
      <p class="hint">
        The broker tells these URLs when a client needs a person (Standard Webhooks, signed with each webhook’s secret).
      </p>
      {actions.notice && (
        <p class="success" role="status">
          {actions.notice}
        </p>
      )}
      {created ? (
        <CopyOnce
          id="new-webhook-secret"
          title={`Webhook for ${created.url} added`}
          label="The new webhook's signing secret"
          value={created.secret}
          explanation="Copy its signing secret now for the receiver to verify signatures: it is shown only this once."
          onDone={() => setCreated(null)}
        />
      ) : (
        <CreateWebhookForm
          onCreated={(webhook) => {
            setCreated(webhook);
            webhooks.reload();
          }}
        />
      )}
      <section class="card" aria-labelledby="webhooks-title">
        <h2 id="webhooks-title">Webhooks</h2>
        <ErrorBox error={webhooks.error ?? actions.error} />
        {webhooks.data && (
          <WebhooksTable webhooks={webhooks.data.items} onTest={actions.test} onDelete={actions.setDeleting} />
        )}
      </section>
      <ConfirmDialog
        open={actions.deleting !== null}
        title="Delete this webhook?"
        confirmLabel="Delete webhook"
        onConfirm={actions.remove}
        onCancel={() => actions.setDeleting(null)}
      >
        <p>
          <strong class="mono">{actions.deleting?.url}</strong> gets no more events, and its deliveries are no longer
          listed.
        </p>
      </ConfirmDialog>
    </>
  );
}
