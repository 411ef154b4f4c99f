import { CLIENT_ASSERTION_TYPE, signClientAssertion } from '../../client-auth/client-assertion';
import { formEncode } from './redaction';
import type { TokenRequest } from './upstream.types';

/** A token request's body, its Basic credential when the method uses one, and what an answer must never echo. */
export interface BuiltTokenRequest {
  json: boolean;
  body: string;
  basicCredential: string | null;
  /** Every value the request carries or was built from that is secret, for the answer's redactor. */
  sensitive: string[];
}

/**
 * The body of a client-credentials request for the client's method: the JSON
 * body Pipedream takes (client_secret_post only), or the RFC 6749 form with
 * the secret in the body (post), in HTTP Basic (basic), a signed assertion
 * (private_key_jwt, RFC 7523) or only the client id (tls_client_auth, RFC 8705).
 * Extra parameters come first, so the broker's own always win.
 */
export function tokenRequestBody(request: TokenRequest): BuiltTokenRequest {
  const { proof, clientId } = request;
  const scope: Record<string, string> = request.scope === null ? {} : { scope: request.scope };
  const base: Record<string, string> = { ...request.extraParams, grant_type: 'client_credentials', ...scope };
  switch (proof.method) {
    case 'client_secret_post': {
      const fields = { ...base, client_id: clientId, client_secret: proof.clientSecret };
      const body = request.format === 'json' ? JSON.stringify(fields) : new URLSearchParams(fields).toString();
      return { json: request.format === 'json', body, basicCredential: null, sensitive: [proof.clientSecret] };
    }
    case 'client_secret_basic': {
      const basicCredential = basicCredentialOf(clientId, proof.clientSecret);
      const body = new URLSearchParams(base).toString();
      return { json: false, body, basicCredential, sensitive: [proof.clientSecret, basicCredential] };
    }
    case 'private_key_jwt': {
      const assertion = signClientAssertion({
        clientId,
        audience: request.tokenUrl,
        privateKey: proof.privateKey,
        keyId: proof.keyId,
        alg: proof.alg,
      });
      const fields = {
        ...base,
        client_id: clientId,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
      };
      const body = new URLSearchParams(fields).toString();
      return { json: false, body, basicCredential: null, sensitive: [...pemBodies(proof.privateKeyPem), assertion] };
    }
    case 'tls_client_auth': {
      const body = new URLSearchParams({ ...base, client_id: clientId }).toString();
      const sensitive = [...pemBodies(proof.privateKeyPem), ...pemBodies(proof.certificatePem)];
      return { json: false, body, basicCredential: null, sensitive };
    }
  }
}

/** The HTTP Basic credential of RFC 6749 section 2.3.1: each half form-encoded, then base64. */
export function basicCredentialOf(clientId: string, clientSecret: string): string {
  return Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString('base64');
}

/** The base64 of each PEM block, on one line: what an upstream could quote; the armour lines are public words. */
export function pemBodies(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN [A-Z ]+-----([\s\S]*?)-----END [A-Z ]+-----/g)].map((match) =>
    match[1].replace(/\s+/g, ''),
  );
}
