import { type Command, InvalidArgumentError, Option } from 'commander';
import { SIGNING_ALGS, TOKEN_ENDPOINT_AUTH_METHODS } from '../client-auth/provider-settings';
import type { TokenEndpointAuthMethod } from '../store/store.types';
import { SECRET_FILE_HELP, SECRET_STDIN_HELP } from './secrets';

/** The non-secret provider settings `add` and `update` share. */
export interface SettingsOptions {
  tokenUrl?: string;
  scope?: string;
  format?: string;
  authMethod?: TokenEndpointAuthMethod;
  keyId?: string;
  signingAlg?: string;
  extraParam?: Record<string, string>;
  defaultExpiresIn?: number;
}

/** Where the key methods' PEM material is read from: a file, or `-` for standard input. */
export interface KeyMaterialOptions {
  privateKeyFile?: string;
  certificateFile?: string;
}

export const PRIVATE_KEY_FILE_HELP =
  'PKCS#8 PEM private key (private_key_jwt, tls_client_auth): a file, or - for standard input';
export const CERTIFICATE_FILE_HELP =
  'PEM client certificate, chain allowed (tls_client_auth): a file, or - for standard input';

/** The provider settings that are not secret, as `add` and `update` take them. */
export function addSettingsOptions(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'token request format').choices(['json', 'form']))
    .addOption(
      new Option(
        '--auth-method <method>',
        'how the client proves itself at the token URL (tokenEndpointAuthMethod)',
      ).choices(TOKEN_ENDPOINT_AUTH_METHODS),
    )
    .option('--key-id <kid>', 'private_key_jwt: the kid of the assertion header')
    .addOption(
      new Option('--signing-alg <alg>', "private_key_jwt: the assertion's algorithm (default: by key type)").choices(
        SIGNING_ALGS,
      ),
    )
    .option(
      '--extra-param <name=value>',
      'a parameter added to every token request (e.g. audience=https://api.example.com); repeat for more',
      extraParam,
    )
    .option(
      '--default-expires-in <seconds>',
      'the token lifetime assumed when the upstream sends no expires_in (60-86400)',
      positiveInteger,
    );
}

export function addSecretOptions(command: Command): Command {
  return command
    .option('--secret-file <path>', SECRET_FILE_HELP)
    .option('--secret-stdin', SECRET_STDIN_HELP)
    .option('--json', 'JSON for scripts');
}

/** The settings both registration and PATCH take, as the API names them; unset options are left out. */
export function settingsBody(options: SettingsOptions): Record<string, unknown> {
  return {
    ...definedOnly({
      tokenRequestFormat: options.format,
      tokenEndpointAuthMethod: options.authMethod,
      keyId: options.keyId,
      signingAlg: options.signingAlg,
    }),
    ...(options.extraParam !== undefined && { extraParams: options.extraParam }),
    ...(options.defaultExpiresIn !== undefined && { defaultExpiresInSeconds: options.defaultExpiresIn }),
  };
}

/** `--extra-param name=value`, repeatable: the values so far, with this one added. */
function extraParam(raw: string, previous: Record<string, string> | undefined): Record<string, string> {
  const at = raw.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('Expected name=value.');
  const name = raw.slice(0, at);
  if (previous !== undefined && Object.hasOwn(previous, name))
    throw new InvalidArgumentError(`${name} is given twice.`);
  return { ...previous, [name]: raw.slice(at + 1) };
}

export function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('Not a positive whole number.');
  return value;
}

export function definedOnly(fields: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
