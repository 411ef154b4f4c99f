import type { AuthMethod, SigningAlg } from '../../api';
import { AUTH_METHODS } from '../../api';
import { PemFileInput } from '../../components/pem-file-input';
import { SecretInput } from '../../components/secret-input';
import { TextField } from '../../components/text-field';
import type { Draft } from './draft';

export const METHOD_LABELS: Record<AuthMethod, string> = {
  client_secret_post: 'client_secret_post: id and secret in the request body',
  client_secret_basic: 'client_secret_basic: id and secret in HTTP Basic (RFC 6749)',
  private_key_jwt: 'private_key_jwt: a JWT signed with a private key (RFC 7523)',
  tls_client_auth: 'tls_client_auth: mutual TLS with a client certificate (RFC 8705)',
};

const ALG_LABELS: [SigningAlg | '', string][] = [
  ['', 'by key type (RS256, ES256 or EdDSA)'],
  ['PS256', 'PS256 (RSA keys only)'],
  ['RS256', 'RS256'],
  ['ES256', 'ES256'],
  ['EdDSA', 'EdDSA'],
];

export interface DraftProps {
  draft: Draft;
  update: (changes: Partial<Draft>) => void;
}

function MethodSelect({ draft, update }: DraftProps) {
  return (
    <div class="field">
      <label for="auth-method">Client authentication</label>
      <select
        id="auth-method"
        value={draft.tokenEndpointAuthMethod}
        aria-describedby="auth-method-hint"
        onChange={(event) =>
          update({ tokenEndpointAuthMethod: (event.currentTarget as HTMLSelectElement).value as AuthMethod })
        }
      >
        {AUTH_METHODS.map((method) => (
          <option key={method} value={method}>
            {METHOD_LABELS[method]}
          </option>
        ))}
      </select>
      <p id="auth-method-hint" class="hint">
        How the client proves itself at the token URL. Pipedream takes client_secret_post.
      </p>
    </div>
  );
}

function PrivateKeyJwtFields({ draft, update }: DraftProps) {
  return (
    <>
      <PemFileInput
        id="private-key"
        label="Private key (PKCS#8 PEM file)"
        loaded={draft.privateKey !== ''}
        onLoad={(privateKey) => update({ privateKey })}
        hint="RSA (2048 bits or more), P-256 EC or Ed25519. Read here and sent once; never shown again."
      />
      <TextField
        id="key-id"
        label="Key id (optional)"
        value={draft.keyId}
        onInput={(keyId) => update({ keyId })}
        hint="Sent as the kid of the assertion's header, when the provider knows the key by it."
      />
      <div class="field">
        <label for="signing-alg">Signing algorithm</label>
        <select
          id="signing-alg"
          value={draft.signingAlg}
          onChange={(event) =>
            update({ signingAlg: (event.currentTarget as HTMLSelectElement).value as SigningAlg | '' })
          }
        >
          {ALG_LABELS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
    </>
  );
}

function TlsClientAuthFields({ draft, update }: DraftProps) {
  return (
    <>
      <PemFileInput
        id="client-certificate"
        label="Client certificate (PEM file, chain allowed)"
        loaded={draft.clientCertificate !== ''}
        onLoad={(clientCertificate) => update({ clientCertificate })}
        hint="The client's own certificate first. The token URL must be https."
      />
      <PemFileInput
        id="private-key"
        label="Private key (PKCS#8 PEM file)"
        loaded={draft.privateKey !== ''}
        onLoad={(privateKey) => update({ privateKey })}
      />
    </>
  );
}

/** The method, and the material it takes: a secret typed or loaded, or PEM files. */
export function AuthFields({ draft, update }: DraftProps) {
  const method = draft.tokenEndpointAuthMethod;
  return (
    <fieldset>
      <legend>Authentication</legend>
      <MethodSelect draft={draft} update={update} />
      {method === 'private_key_jwt' && <PrivateKeyJwtFields draft={draft} update={update} />}
      {method === 'tls_client_auth' && <TlsClientAuthFields draft={draft} update={update} />}
      {(method === 'client_secret_post' || method === 'client_secret_basic') && (
        <SecretInput id="secret" label="Client secret" value={draft.secret} onInput={(secret) => update({ secret })} />
      )}
    </fieldset>
  );
}
