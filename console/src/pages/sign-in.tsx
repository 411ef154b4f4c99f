import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { ErrorBox } from '../components/error-box';
import { saveAdminKey } from '../session';

/** Asks for an admin key, checks it against the broker, keeps it for this tab only. */
export function SignIn({ onSignedIn, notice }: { onSignedIn: () => void; notice: string | null }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.checkAdminKey(key.trim());
      saveAdminKey(key.trim());
      setKey('');
      onSignedIn();
    } catch (reason) {
      const apiError = reason as ApiError;
      setError(
        apiError.status === 403
          ? new ApiError(403, 'forbidden', 'This is a service key. The console needs an admin key (BROKER_ADMIN_KEYS).')
          : apiError,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in" tabIndex={-1}>
      <h1>token-broker console</h1>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <form onSubmit={submit} class="card" method="post" action="#">
        <div class="field">
          <label for="admin-key">Admin key</label>
          <input
            id="admin-key"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            value={key}
            onInput={(event) => setKey((event.currentTarget as HTMLInputElement).value)}
            aria-describedby="admin-key-hint"
          />
          <p id="admin-key-hint" class="hint">
            Kept in this tab only (sessionStorage): closing the tab or signing out forgets it.
          </p>
        </div>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy || key.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
