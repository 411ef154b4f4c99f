import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { ErrorBox } from '../components/error-box';
import { SecretInput } from '../components/secret-input';
import { TextField } from '../components/text-field';
import { hrefOf, navigate } from '../router';
import { AuthFields, type DraftProps } from './register/auth-fields';
import { EMPTY_DRAFT, materialMissing, registrationBody, type Draft } from './register/draft';
import { OAuthSettings } from './register/oauth-settings';

export { registrationBody } from './register/draft';

function TypeChoice({ draft, update }: DraftProps) {
  const oauth = draft.type === 'oauth_client_credentials';
  return (
    <fieldset>
      <legend>Type</legend>
      <div class="field radio">
        <input
          id="type-oauth"
          type="radio"
          name="type"
          checked={oauth}
          onChange={() => update({ type: 'oauth_client_credentials' })}
        />
        <label for="type-oauth">OAuth client credentials (client id and a secret, key or certificate)</label>
      </div>
      <div class="field radio">
        <input
          id="type-api-key"
          type="radio"
          name="type"
          checked={!oauth}
          onChange={() => update({ type: 'api_key' })}
        />
        <label for="type-api-key">Pipedream user API key</label>
      </div>
    </fieldset>
  );
}

/** Workspace, name and, for OAuth, the client id. */
function Identity({ draft, update }: DraftProps) {
  return (
    <>
      <TextField
        id="workspace"
        label="Workspace"
        value={draft.workspaceId}
        required
        onInput={(workspaceId) => update({ workspaceId })}
        hint="1-64 characters of A-Z, a-z, 0-9, _ and -, like o_abc123."
      />
      <TextField id="name" label="Name" value={draft.name} required onInput={(name) => update({ name })} />
      {draft.type === 'oauth_client_credentials' && (
        <TextField
          id="client-id"
          label="Client id"
          value={draft.clientId}
          required
          onInput={(clientId) => update({ clientId })}
        />
      )}
    </>
  );
}

/** Sends the draft; on success the secret material is dropped from memory and the new client's page opens. */
function useRegistration(draft: Draft, reset: () => void) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const missing = materialMissing(draft);
    if (missing) {
      setError(new ApiError(0, 'bad_request', missing));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await api.createClient(registrationBody(draft));
      reset();
      navigate({ page: 'client', id: created.id });
    } catch (reason) {
      setError(reason as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, submit };
}

export function RegisterClientPage() {
  const [draft, setDraft] = useState<Draft>(EMPTY_DRAFT);
  const update = (changes: Partial<Draft>) => setDraft((current) => ({ ...current, ...changes }));
  const { error, busy, submit } = useRegistration(draft, () => setDraft(EMPTY_DRAFT));
  const oauth = draft.type === 'oauth_client_credentials';

  return (
    <>
      <p class="breadcrumb">
        <a href={hrefOf({ page: 'clients' })}>Clients</a> / new
      </p>
      <h1 tabIndex={-1}>Register a client</h1>
      <form class="card" onSubmit={submit} method="post" action="#">
        <TypeChoice draft={draft} update={update} />
        <Identity draft={draft} update={update} />
        {oauth ? (
          <>
            <AuthFields draft={draft} update={update} />
            <OAuthSettings draft={draft} update={update} />
          </>
        ) : (
          <SecretInput id="secret" label="API key" value={draft.secret} onInput={(secret) => update({ secret })} />
        )}
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Registering…' : 'Register'}
        </button>
      </form>
    </>
  );
}
