import type { TokenRequestFormat } from '../../api';
import { ExtraParams } from '../../components/extra-params';
import { TextField } from '../../components/text-field';
import type { DraftProps } from './auth-fields';
import { formatFor } from './draft';

function FormatSelect({ draft, update }: DraftProps) {
  const method = draft.tokenEndpointAuthMethod;
  const onlyForm = method !== 'client_secret_post';
  return (
    <div class="field">
      <label for="format">Token request format</label>
      <select
        id="format"
        value={formatFor(method, draft.tokenRequestFormat)}
        aria-describedby="format-hint"
        onChange={(event) =>
          update({ tokenRequestFormat: (event.currentTarget as HTMLSelectElement).value as TokenRequestFormat })
        }
      >
        <option value="json" disabled={onlyForm}>
          json: JSON body, as Pipedream takes it
        </option>
        <option value="form">form: RFC 6749 form body</option>
      </select>
      <p id="format-hint" class="hint">
        {onlyForm ? `${method} sends the form body; json goes with client_secret_post only.` : 'Pipedream takes json.'}
      </p>
    </div>
  );
}

/** Where and how an OAuth client asks for its tokens. */
export function OAuthSettings({ draft, update }: DraftProps) {
  return (
    <>
      <TextField
        id="token-url"
        label="Token URL (optional)"
        value={draft.tokenUrl}
        onInput={(tokenUrl) => update({ tokenUrl })}
        hint="Empty: the broker's DEFAULT_TOKEN_URL. Its host must be in TOKEN_URL_ALLOWLIST."
      />
      <TextField id="scope" label="Scope (optional)" value={draft.scope} onInput={(scope) => update({ scope })} />
      <FormatSelect draft={draft} update={update} />
      <ExtraParams rows={draft.params} onChange={(params) => update({ params })} />
      <TextField
        id="default-expires"
        label="Default token lifetime, seconds (optional)"
        value={draft.defaultExpiresInSeconds}
        inputMode="numeric"
        onInput={(defaultExpiresInSeconds) => update({ defaultExpiresInSeconds })}
        hint="Assumed when the upstream's answer has no expires_in: 60 to 86400, default 3600."
      />
    </>
  );
}
