import { useState } from 'preact/hooks';
import { api, ApiError, type ClientView } from '../../api';
import { ErrorBox } from '../../components/error-box';
import { PemFileInput } from '../../components/pem-file-input';
import { SecretInput } from '../../components/secret-input';
import { TextField } from '../../components/text-field';
import { NONE, rotationBody, rotationKindOf, TITLES, type Material, type RotationKind } from './rotation';

function MaterialFields(props: { kind: RotationKind; material: Material; set: (changes: Partial<Material>) => void }) {
  const { kind, material, set } = props;
  const keyInput = (
    <PemFileInput
      id="rotate-private-key"
      label="New private key (PKCS#8 PEM file)"
      loaded={material.privateKey !== ''}
      onLoad={(privateKey) => set({ privateKey })}
    />
  );
  if (kind === 'private_key_jwt') {
    return (
      <>
        {keyInput}
        <TextField
          id="rotate-key-id"
          label="New key id (optional)"
          value={material.keyId}
          onInput={(keyId) => set({ keyId })}
          hint="The kid the provider knows the new key by, if it uses one."
        />
      </>
    );
  }
  if (kind === 'tls_client_auth') {
    return (
      <>
        <PemFileInput
          id="rotate-certificate"
          label="New client certificate (PEM file, chain allowed)"
          loaded={material.clientCertificate !== ''}
          onLoad={(clientCertificate) => set({ clientCertificate })}
        />
        {keyInput}
      </>
    );
  }
  return (
    <SecretInput
      id="rotate-secret"
      label={kind === 'api_key' ? 'New API key' : 'New client secret'}
      value={material.secret}
      onInput={(secret) => set({ secret })}
      hint="The broker tries it with the upstream first; if refused, the old one stays in force."
    />
  );
}

function useRotation(client: ClientView, kind: RotationKind, onRotated: () => void) {
  const [material, setMaterial] = useState<Material>(NONE);
  const [verify, setVerify] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setDone(null);
    const body = rotationBody(kind, material);
    if (typeof body === 'string') return setError(new ApiError(0, 'bad_request', body));
    setBusy(true);
    setError(null);
    try {
      const rotated = await api.rotateSecret(client.id, body, verify);
      setMaterial(NONE);
      const what = kind === 'secret' || kind === 'api_key' ? 'the secret now ends with' : 'the key’s hint is now';
      setDone(`Rotated: ${what} …${rotated.secretHint}.`);
      onRotated();
    } catch (reason) {
      setError(reason as ApiError);
    } finally {
      setBusy(false);
    }
  };
  const set = (changes: Partial<Material>) => setMaterial((current) => ({ ...current, ...changes }));
  return { material, set, verify, setVerify, error, done, busy, submit };
}

export function RotateForm({ client, onRotated }: { client: ClientView; onRotated: () => void }) {
  const kind = rotationKindOf(client);
  const rotation = useRotation(client, kind, onRotated);
  return (
    <section aria-labelledby="rotate-title" class="card">
      <h2 id="rotate-title">{TITLES[kind]}</h2>
      <form onSubmit={rotation.submit} method="post" action="#">
        <MaterialFields kind={kind} material={rotation.material} set={rotation.set} />
        <div class="field checkbox">
          <input
            id="rotate-verify"
            type="checkbox"
            checked={rotation.verify}
            onChange={() => rotation.setVerify(!rotation.verify)}
          />
          <label for="rotate-verify">Check it with the upstream before replacing the old one</label>
        </div>
        <ErrorBox error={rotation.error} />
        {rotation.done && (
          <p class="success" role="status">
            {rotation.done}
          </p>
        )}
        <button type="submit" class="primary" disabled={rotation.busy}>
          {rotation.busy ? 'Rotating…' : 'Rotate'}
        </button>
      </form>
    </section>
  );
}
