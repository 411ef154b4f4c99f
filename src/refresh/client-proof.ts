import { readPrivateKey, signingAlgFor } from '../client-auth/key-material';
import { authMethodOf, defaultExpiresInOf, extraParamsOf } from '../client-auth/provider-settings';
import type { ClientMaterial } from '../client-auth/sealed-material';
import type { OAuthClientRecord } from '../store/store.types';
import type { ClientTlsAgents } from './upstream/tls-agents';
import type { ClientProof, RejectedOutcome, TokenRequest, UpstreamCaller } from './upstream/upstream.types';

/**
 * The token request for an OAuth client with this material (stored, or new
 * in a rotation), or a refusal when the material cannot serve the client's
 * method: that needs an admin, like a refused secret. A rotation's
 * verification gets an agent of its own, so material not yet in force is
 * never cached.
 */
export function tokenRequestFor(
  client: OAuthClientRecord,
  material: ClientMaterial,
  caller: UpstreamCaller,
  agents: ClientTlsAgents,
): TokenRequest | RejectedOutcome {
  const proof = proofFor(client, material, caller.verification === true, agents);
  if ('kind' in proof) return proof;
  return {
    ...caller,
    tokenUrl: client.tokenUrl,
    clientId: client.clientId,
    scope: client.scope,
    format: client.tokenRequestFormat,
    proof,
    extraParams: extraParamsOf(client),
    defaultExpiresInSeconds: defaultExpiresInOf(client),
  };
}

function proofFor(
  client: OAuthClientRecord,
  material: ClientMaterial,
  verification: boolean,
  agents: ClientTlsAgents,
): ClientProof | RejectedOutcome {
  const method = authMethodOf(client);
  if ((method === 'client_secret_post' || method === 'client_secret_basic') && material.kind === 'secret') {
    return { method, clientSecret: material.secret };
  }
  if (method === 'private_key_jwt' && material.kind === 'private_key') {
    const read = readPrivateKey(material.privateKey);
    if ('problem' in read) return misconfigured(`the stored privateKey ${read.problem}`);
    const alg = signingAlgFor(read.kind, client.signingAlg ?? undefined);
    if ('problem' in alg) return misconfigured(`signingAlg ${alg.problem}`);
    return {
      method,
      privateKey: read.key,
      privateKeyPem: material.privateKey,
      keyId: client.keyId ?? null,
      alg: alg.alg,
    };
  }
  if (method === 'tls_client_auth' && material.kind === 'certificate') {
    const agent = verification ? agents.transientAgent(material) : agents.agentFor(client, material);
    return { method, agent, privateKeyPem: material.privateKey, certificatePem: material.certificate };
  }
  return misconfigured(`the stored material does not fit ${method}; rotate it`);
}

function misconfigured(description: string): RejectedOutcome {
  return { kind: 'rejected', httpStatus: null, error: 'misconfigured_client', description };
}
