import type { ClientEntry, ClientRecord, ClientStatus, StoredToken } from '../store.types';

/**
 * How a client's record, status and token sit in its hash: compact JSON
 * (short property names, what the hash's other fields or the key already say
 * left out, canonical ISO times as epoch ms) under the fields c, s and t,
 * each split by the Lua scripts into chunks c, c1, c2, ... of at most
 * PART_CHUNK_BYTES (includes/clientParts.lua). With every value that short,
 * Redis keeps the hash in its listpack encoding, at about half the memory of
 * a hashtable (hash-max-listpack-value is 64 by default).
 *
 * A hash written before this layout holds the full JSON under client, status
 * and token: decoding reads both, since a short name never equals a long one,
 * and such a field wins over the part, which the scripts remove when they
 * write the part.
 */

/** Redis's default hash-max-listpack-value: the longest value a listpack-encoded hash may hold. */
export const PART_CHUNK_BYTES = 64;

/** The hash field of each part, and the field the layout before it used. */
export const PART_FIELDS = { client: 'c', status: 's', token: 't' } as const;
const LEGACY_FIELDS = { client: 'client', status: 'status', token: 'token' } as const;

type Part = keyof typeof PART_FIELDS;

/** Long name -> short name; properties not named here (added later) are stored under their own name. */
const CLIENT_NAMES: Record<string, string> = {
  workspaceId: 'w',
  name: 'n',
  type: 'y',
  clientId: 'i',
  tokenUrl: 'u',
  scope: 'sc',
  tokenRequestFormat: 'f',
  tokenEndpointAuthMethod: 'm',
  extraParams: 'x',
  defaultExpiresInSeconds: 'd',
  secretHint: 'h',
  sealedSecret: 's',
  sealedPrivateKey: 'pk',
  sealedCertificate: 'ce',
  keyId: 'k',
  signingAlg: 'al',
  certificateExpiresAt: 'cx',
  createdAt: 'ca',
  updatedAt: 'ua',
};
/** The values of the enumerations, by a letter (a value not named here is stored as it is). */
const CLIENT_CODES: Record<string, Record<string, string>> = {
  type: { oauth_client_credentials: 'o', api_key: 'k' },
  tokenRequestFormat: { json: 'j', form: 'f' },
  tokenEndpointAuthMethod: {
    client_secret_post: 'p',
    client_secret_basic: 'b',
    private_key_jwt: 'j',
    tls_client_auth: 't',
  },
};
/** Stored elsewhere: the id is the key's, the generation is the hash's gen field. */
const CLIENT_OMITTED = ['id', 'generation'];
/** Properties every record has: left out when they hold this value, and read back as it. */
const CLIENT_DEFAULTS = { scope: null, sealedSecret: null, clientId: null, tokenUrl: null };
const CLIENT_TIMES = ['createdAt', 'updatedAt', 'certificateExpiresAt'];

const STATUS_NAMES: Record<string, string> = {
  tokenExpiresAt: 'e',
  lastRefreshAt: 'r',
  lastError: 'le',
  refusal: 'rf',
  failingSince: 'fs',
  consecutiveFailures: 'cf',
  nextAttemptAt: 'na',
  lastForcedRefreshAt: 'lf',
};
/** The state is the hash's state field. */
const STATUS_OMITTED = ['state'];
/**
 * Spelled out rather than taken from initialStatus(): what a stored hash leaves out is part of the stored
 * format, and must not change when the in-memory default of a new client does.
 */
const STATUS_DEFAULTS = {
  tokenExpiresAt: null,
  lastRefreshAt: null,
  lastError: null,
  failingSince: null,
  consecutiveFailures: 0,
  nextAttemptAt: null,
  lastForcedRefreshAt: null,
};
/** Not failingSince: updateClient-2.lua copies it into webhook events as it is stored. */
const STATUS_TIMES = ['tokenExpiresAt', 'lastRefreshAt'];

const TOKEN_NAMES: Record<string, string> = {
  sealedAccessToken: 'a',
  expiresAt: 'e',
  obtainedAt: 'o',
  generation: 'g',
};

interface Shape {
  names: Record<string, string>;
  omitted: string[];
  defaults: Record<string, null | number>;
  times: string[];
  codes?: Record<string, Record<string, string>>;
}

/** The short names of the properties that are null (other than defaults), space-separated: `"z":"k al"`, not `"k":null,"al":null`. */
const NULLS = 'z';

const CLIENT: Shape = {
  names: CLIENT_NAMES,
  omitted: CLIENT_OMITTED,
  defaults: CLIENT_DEFAULTS,
  times: CLIENT_TIMES,
  codes: CLIENT_CODES,
};
const STATUS: Shape = { names: STATUS_NAMES, omitted: STATUS_OMITTED, defaults: STATUS_DEFAULTS, times: STATUS_TIMES };
const TOKEN: Shape = { names: TOKEN_NAMES, omitted: [], defaults: {}, times: [] };

const inverse = (table: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(table).map(([key, value]) => [value, key]));

/** What decoding a shape needs, worked out once: the long name of each short one, and sets instead of lists. */
interface Decoder {
  longNames: Record<string, string>;
  codes: Record<string, Record<string, string>>;
  times: Set<string>;
  omitted: Set<string>;
  defaults: [string, null | number][];
}
const decoders = new Map<Shape, Decoder>(
  [CLIENT, STATUS, TOKEN].map((shape) => [
    shape,
    {
      longNames: inverse(shape.names),
      codes: Object.fromEntries(Object.entries(shape.codes ?? {}).map(([name, codes]) => [name, inverse(codes)])),
      times: new Set(shape.times),
      omitted: new Set(shape.omitted),
      defaults: Object.entries(shape.defaults),
    },
  ]),
);

export const encodeClient = (client: ClientRecord): string => encode(client, CLIENT);
export const encodeStatus = (status: ClientStatus): string => encode(status, STATUS);
export const encodeToken = (token: StoredToken): string => encode(token, TOKEN);

/** A stored status (either layout) as a ClientStatus; `state` is the hash's state field. */
export function decodeStatus(json: string, state: string): ClientStatus {
  return decode(json, STATUS, { state }) as unknown as ClientStatus;
}

/** The client entry a hash's fields hold (either layout), or null when there is no client. */
export function parseEntry(id: string, fields: Record<string, string>): ClientEntry | null {
  const client = partOf(fields, 'client');
  const status = partOf(fields, 'status');
  if (client === null || status === null) return null;
  const token = partOf(fields, 'token');
  const record = decode(client, CLIENT, { id });
  record.generation = Number(fields.gen);
  return {
    client: record as unknown as ClientRecord,
    status: decodeStatus(status, fields.state),
    token: token === null ? null : (decode(token, TOKEN, {}) as unknown as StoredToken),
  };
}

/** A part's JSON: the layout before's field, else the chunks joined; null when absent. */
function partOf(fields: Record<string, string>, part: Part): string | null {
  const legacy = fields[LEGACY_FIELDS[part]];
  if (legacy !== undefined) return legacy;
  const field = PART_FIELDS[part];
  if (fields[field] === undefined) return null;
  let json = fields[field];
  for (let index = 1; fields[field + index] !== undefined; index++) json += fields[field + index];
  return json;
}

function encode(value: object, shape: Shape): string {
  const compact: Record<string, unknown> = {};
  const nulls: string[] = [];
  for (const [name, property] of Object.entries(value)) {
    if (shape.omitted.includes(name) || (name in shape.defaults && property === shape.defaults[name])) continue;
    const short = shape.names[name] ?? name;
    if (property === null) nulls.push(short);
    else compact[short] = encodedValue(name, property, shape);
  }
  if (nulls.length > 0) compact[NULLS] = nulls.join(' ');
  return JSON.stringify(compact);
}

function encodedValue(name: string, property: unknown, shape: Shape): unknown {
  if (shape.times.includes(name)) return epochIfCanonical(property);
  const code = typeof property === 'string' ? shape.codes?.[name]?.[property] : undefined;
  return code ?? property;
}

/**
 * Decodes either layout into `value` (a long name is not in the short-name
 * table, so it reads as itself). Written as plain loops over the parsed JSON:
 * object rest and spread, and deleting the omitted names afterwards, cost V8
 * ten times as much, and every scheduled refresh decodes an entry.
 */
function decode(json: string, shape: Shape, value: Record<string, unknown>): Record<string, unknown> {
  const { longNames, codes, times, omitted, defaults } = decoders.get(shape) as Decoder;
  for (const [name, fallback] of defaults) value[name] = fallback;
  const stored = JSON.parse(json) as Record<string, unknown>;
  for (const name in stored) {
    const property = stored[name];
    if (name === NULLS) {
      if (typeof property !== 'string') continue;
      for (const short of property.split(' ')) {
        const longName = longNames[short] ?? short;
        if (!omitted.has(longName)) value[longName] = null;
      }
      continue;
    }
    const longName = longNames[name] ?? name;
    if (omitted.has(longName)) continue;
    if (typeof property === 'number' && times.has(longName)) value[longName] = new Date(property).toISOString();
    else value[longName] = (typeof property === 'string' && codes[longName]?.[property]) || property;
  }
  return value;
}

/** An ISO time that reads back exactly from its epoch ms is stored as that number; anything else as it is. */
function epochIfCanonical(time: unknown): unknown {
  if (typeof time !== 'string') return time;
  const ms = Date.parse(time);
  return Number.isFinite(ms) && new Date(ms).toISOString() === time ? ms : time;
}
