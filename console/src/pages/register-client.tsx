import { useState } from 'preact/hooks';
import { api, ApiError, type ClientType } from '../api';
import { ErrorBox } from '../components/error-box';
import { SecretInput } from '../components/secret-input';
import { hrefOf, navigate } from '../router';

interface Draft {
  type: ClientType;
  workspaceId: string;
  name: string;
  clientId: string;
  secret: string;
  tokenUrl: string;
  scope: string;
  tokenRequestFormat: 'json' | 'form';
}

const EMPTY: Draft = {
  type: 'oauth_client_credentials',
  workspaceId: '',
  name: '',
  clientId: '',
  secret: '',
  tokenUrl: '',
  scope: '',
  tokenRequestFormat: 'json',
};

/** The POST /v1/clients body of a draft: only the fields of its type, and no empty optional ones. */
export function registrationBody(draft: Draft): Record<string, unknown> {
  const common = { workspaceId: draft.workspaceId.trim(), name: draft.name.trim(), type: draft.type };
  if (draft.type === 'api_key') return { ...common, apiKey: draft.secret };
  return {
    ...common,
    clientId: draft.clientId.trim(),
    clientSecret: draft.secret,
    tokenRequestFormat: draft.tokenRequestFormat,
    ...(draft.tokenUrl.trim() ? { tokenUrl: draft.tokenUrl.trim() } : {}),
    ...(draft.scope.trim() ? { scope: draft.scope.trim() } : {}),
  };
}

function TextField(props: {
  id: string;
  label: string;
  value: string;
  hint?: string;
  required?: boolean;
  onInput: (v: string) => void;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        value={props.value}
        required={props.required}
        spellcheck={false}
        aria-describedby={props.hint ? `${props.id}-hint` : undefined}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
      />
      {props.hint && (
        <p id={`${props.id}-hint`} class="hint">
          {props.hint}
        </p>
      )}
    </div>
  );
}

type SetField = (field: keyof Draft) => (value: string) => void;

function TypeChoice({ oauth, set }: { oauth: boolean; set: SetField }) {
  return (
    <fieldset>
      <legend>Type</legend>
      <div class="field radio">
        <input
          id="type-oauth"
          type="radio"
          name="type"
          checked={oauth}
          onChange={() => set('type')('oauth_client_credentials')}
        />
        <label for="type-oauth">OAuth client credentials (client id and secret)</label>
      </div>
      <div class="field radio">
        <input id="type-api-key" type="radio" name="type" checked={!oauth} onChange={() => set('type')('api_key')} />
        <label for="type-api-key">Pipedream user API key</label>
      </div>
    </fieldset>
  );
}

/** Where and how an OAuth client asks for its tokens. */
function OAuthSettings({ draft, set }: { draft: Draft; set: SetField }) {
  return (
    <>
      <TextField
        id="token-url"
        label="Token URL (optional)"
        value={draft.tokenUrl}
        onInput={set('tokenUrl')}
        hint="Empty: the broker's DEFAULT_TOKEN_URL. Its host must be in TOKEN_URL_ALLOWLIST."
      />
      <TextField id="scope" label="Scope (optional)" value={draft.scope} onInput={set('scope')} />
      <div class="field">
        <label for="format">Token request format</label>
        <select
          id="format"
          value={draft.tokenRequestFormat}
          onChange={(event) => set('tokenRequestFormat')((event.currentTarget as HTMLSelectElement).value)}
        >
          <option value="json">json: JSON body, as Pipedream takes it</option>
          <option value="form">form: RFC 6749 form body, HTTP Basic</option>
        </select>
      </div>
    </>
  );
}

export function RegisterClientPage() {
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const set: SetField = (field) => (value) => setDraft({ ...draft, [field]: value });
  const oauth = draft.type === 'oauth_client_credentials';

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.createClient(registrationBody(draft));
      setDraft(EMPTY);
      navigate({ page: 'client', id: created.id });
    } catch (reason) {
      setError(reason as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <p class="breadcrumb">
        <a href={hrefOf({ page: 'clients' })}>Clients</a> / new
      </p>
      <h1 tabIndex={-1}>Register a client</h1>
      <form class="card" onSubmit={submit} method="post" action="#">
        <TypeChoice oauth={oauth} set={set} />
        <TextField
          id="workspace"
          label="Workspace"
          value={draft.workspaceId}
          required
          onInput={set('workspaceId')}
          hint="1-64 characters of A-Z, a-z, 0-9, _ and -, like o_abc123."
        />
        <TextField id="name" label="Name" value={draft.name} required onInput={set('name')} />
        {oauth && (
          <TextField id="client-id" label="Client id" value={draft.clientId} required onInput={set('clientId')} />
        )}
        <SecretInput
          id="secret"
          label={oauth ? 'Client secret' : 'API key'}
          value={draft.secret}
          onInput={set('secret')}
        />
        {oauth && <OAuthSettings draft={draft} set={set} />}
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Registering…' : 'Register'}
        </button>
      </form>
    </>
  );
}
