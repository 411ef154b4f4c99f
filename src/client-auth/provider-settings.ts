import type { OAuthClientRecord, SigningAlg, TokenEndpointAuthMethod, TokenRequestFormat } from '../store/store.types';

export const TOKEN_ENDPOINT_AUTH_METHODS: TokenEndpointAuthMethod[] = [
  'client_secret_post',
  'client_secret_basic',
  'private_key_jwt',
  'tls_client_auth',
];
export const SIGNING_ALGS: SigningAlg[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/** The lifetime assumed when a token answer has no `expires_in`, and its bounds. */
export const DEFAULT_EXPIRES_IN_SECONDS = 3_600;
export const MIN_DEFAULT_EXPIRES_IN_SECONDS = 60;
export const MAX_DEFAULT_EXPIRES_IN_SECONDS = 86_400;

export const MAX_EXTRA_PARAMS = 10;
export const MAX_EXTRA_PARAM_VALUE_LENGTH = 512;
export const EXTRA_PARAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Parameters the broker sets itself: an extra parameter of one of these names could override or duplicate them. */
export const RESERVED_PARAM_NAMES: readonly string[] = [
  'grant_type',
  'client_id',
  'client_secret',
  'scope',
  'client_assertion',
  'client_assertion_type',
];

/** Methods whose secret material is a private key (and for mutual TLS, a certificate too). */
export type KeyAuthMethod = Extract<TokenEndpointAuthMethod, 'private_key_jwt' | 'tls_client_auth'>;
export const isKeyMethod = (method: TokenEndpointAuthMethod): method is KeyAuthMethod =>
  method === 'private_key_jwt' || method === 'tls_client_auth';

/** SPEC: `client_secret_post` with Pipedream's JSON body, `client_secret_basic` with the RFC 6749 form. */
export function defaultAuthMethod(format: TokenRequestFormat): TokenEndpointAuthMethod {
  return format === 'json' ? 'client_secret_post' : 'client_secret_basic';
}

/** The client's method; a record stored before methods existed keeps the behaviour it had (json: post, form: basic). */
export function authMethodOf(client: OAuthClientRecord): TokenEndpointAuthMethod {
  return client.tokenEndpointAuthMethod ?? defaultAuthMethod(client.tokenRequestFormat);
}

export function extraParamsOf(client: OAuthClientRecord): Record<string, string> {
  return client.extraParams ?? {};
}

export function defaultExpiresInOf(client: OAuthClientRecord): number {
  return client.defaultExpiresInSeconds ?? DEFAULT_EXPIRES_IN_SECONDS;
}

/** What is wrong with a set of extra parameters, one message per problem; the values are never quoted. */
export function extraParamsProblems(params: Record<string, unknown>): string[] {
  const names = Object.keys(params);
  const problems: string[] = [];
  if (names.length > MAX_EXTRA_PARAMS) problems.push(`at most ${MAX_EXTRA_PARAMS} parameters, got ${names.length}`);
  for (const name of names) {
    const shown = EXTRA_PARAM_NAME.test(name) ? `"${name}"` : '(a name)';
    if (!EXTRA_PARAM_NAME.test(name))
      problems.push('parameter names must be 1-64 characters of A-Z, a-z, 0-9, _, . and -');
    else if (RESERVED_PARAM_NAMES.includes(name)) {
      problems.push(`${shown} is set by the broker itself and cannot be an extra parameter`);
    }
    const value = params[name];
    if (typeof value !== 'string') problems.push(`the value of ${shown} must be a string`);
    else if (value.length > MAX_EXTRA_PARAM_VALUE_LENGTH) {
      problems.push(`the value of ${shown} must be at most ${MAX_EXTRA_PARAM_VALUE_LENGTH} characters`);
    }
  }
  return [...new Set(problems)];
}
