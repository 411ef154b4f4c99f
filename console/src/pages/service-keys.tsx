import { useState } from 'preact/hooks';
import { api, ApiError, type CreatedServiceKey, type ServiceKey } from '../api';
import { ConfirmDialog } from '../components/confirm-dialog';
import { CopyOnce } from '../components/copy-once';
import { ErrorBox } from '../components/error-box';
import { formatTime } from '../format';
import { usePolling } from '../poll';

const POLL_MS = 10_000;

/** The new key, once: copied or read, then dismissed; it is never fetched again. */
function NewKey({ created, onDone }: { created: CreatedServiceKey; onDone: () => void }) {
  return (
    <CopyOnce
      id="new-key"
      title={`Service key “${created.name}” created`}
      label="The new service key"
      value={created.key}
      explanation="Copy it now: it is shown only this once, and the broker keeps only its hash."
      onDone={onDone}
    />
  );
}

function CreateForm({ onCreated }: { onCreated: (key: CreatedServiceKey) => void }) {
  const [name, setName] = useState('');
  const [workspaces, setWorkspaces] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      const list = workspaces.split(/[\s,]+/).filter(Boolean);
      onCreated(await api.createServiceKey({ name: name.trim(), workspaces: list }));
      setName('');
      setWorkspaces('');
    } catch (reason) {
      setError(reason as ApiError);
    }
  };
  return (
    <form class="card" onSubmit={submit} method="post" action="#" aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create a service key</h2>
      <div class="field">
        <label for="key-name">Name</label>
        <input id="key-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="key-workspaces">Workspaces</label>
        <input
          id="key-workspaces"
          required
          value={workspaces}
          aria-describedby="key-workspaces-hint"
          onInput={(e) => setWorkspaces(e.currentTarget.value)}
        />
        <p id="key-workspaces-hint" class="hint">
          Comma-separated workspace ids, or * for all.
        </p>
      </div>
      <ErrorBox error={error} />
      <button type="submit" class="primary">
        Create key
      </button>
    </form>
  );
}

function KeysTable({ keys, onDelete }: { keys: ServiceKey[]; onDelete: (key: ServiceKey) => void }) {
  if (keys.length === 0) return <p>No service keys yet.</p>;
  const showLastUse = keys.some((key) => 'lastUsedAt' in key);
  return (
    <table class="responsive">
      <caption class="visually-hidden">Service keys</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Workspaces</th>
          <th scope="col">Created</th>
          {showLastUse && <th scope="col">Last used</th>}
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {keys.map((key) => (
          <tr key={key.id}>
            <td data-label="Name">
              {key.name}
              <div class="muted mono">{key.id}</div>
            </td>
            <td data-label="Workspaces" class="mono">
              {key.workspaces.join(', ')}
            </td>
            <td data-label="Created">{formatTime(key.createdAt)}</td>
            {showLastUse && <td data-label="Last used">{key.lastUsedAt ? formatTime(key.lastUsedAt) : 'never'}</td>}
            <td data-label="Actions">
              <button
                type="button"
                class="danger"
                onClick={() => onDelete(key)}
                aria-label={`Delete service key ${key.name}`}
              >
                Delete
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ServiceKeysPage() {
  const keys = usePolling(() => api.listServiceKeys(), POLL_MS, []);
  const [created, setCreated] = useState<CreatedServiceKey | null>(null);
  const [deleting, setDeleting] = useState<ServiceKey | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const remove = async () => {
    if (deleting === null) return;
    try {
      await api.deleteServiceKey(deleting.id);
      setNotice(`Service key ${deleting.name} deleted: it is refused from now on.`);
      keys.reload();
    } catch (reason) {
      setError(reason as ApiError);
    } finally {
      setDeleting(null);
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>Service keys</h1>
      <p class="hint">Internal services fetch tokens with these, only for their workspaces.</p>
      {notice && (
        <p class="success" role="status">
          {notice}
        </p>
      )}
      {created ? (
        <NewKey created={created} onDone={() => setCreated(null)} />
      ) : (
        <CreateForm
          onCreated={(key) => {
            setCreated(key);
            keys.reload();
          }}
        />
      )}
      <section class="card" aria-labelledby="keys-title">
        <h2 id="keys-title">Keys</h2>
        <ErrorBox error={keys.error ?? error} />
        {keys.data && <KeysTable keys={keys.data.items} onDelete={setDeleting} />}
      </section>
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this service key?"
        confirmLabel="Delete key"
        onConfirm={remove}
        onCancel={() => setDeleting(null)}
      >
        <p>
          Services using <strong>{deleting?.name}</strong> are refused within a second, on every replica.
        </p>
      </ConfirmDialog>
    </>
  );
}
