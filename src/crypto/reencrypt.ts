import { StoreUnavailableError, type ClientStore, type WebhookStore } from '../store/broker-store';
import type { ClientEntry } from '../store/store.types';
import { resealed, sealedFieldsOf, sealedValue } from '../client-auth/sealed-material';
import { SealedValueError, SecretBox, tokenContext, webhookSecretContext } from './secret-box';

export interface ReencryptReport {
  clients: number;
  reencrypted: number;
  /** Ids whose values no configured key opens (key removed too early, or tampered). */
  unreadable: string[];
  /** Clients that could not be re-encrypted for another reason (e.g. a record Redis refuses to decode), and why. */
  failed: { id: string; reason: string }[];
}

const PAGE = 500;
const ATTEMPTS = 3;

/**
 * Seals every client's secret (or API key, private key and certificate) and token again under the first key of the
 * ring, so older keys can then be removed from BROKER_ENCRYPTION_KEYS. Each
 * write is fenced on the client's generation: a rotation that lands in
 * between wins, and the client is read again.
 */
export async function reencryptAll(store: ClientStore, box: SecretBox): Promise<ReencryptReport> {
  const report: ReencryptReport = { clients: 0, reencrypted: 0, unreadable: [], failed: [] };
  let afterId: string | undefined;
  for (;;) {
    const ids = await store.listClientIds(afterId, PAGE);
    for (const id of ids) {
      report.clients += 1;
      const outcome = await reencryptClient(store, box, id).catch((error: unknown) => failure(error));
      if (outcome === 'reencrypted') report.reencrypted += 1;
      if (outcome === 'unreadable') report.unreadable.push(id);
      if (typeof outcome === 'object') report.failed.push({ id, reason: outcome.reason });
    }
    if (ids.length < PAGE) return report;
    afterId = ids[ids.length - 1];
  }
}

const MAX_REASON = 200;

/**
 * One client's failure does not stop the others: it is reported by id and the
 * run goes on. An unreachable store stops the run, as no client can be done then.
 */
function failure(error: unknown): { reason: string } {
  if (error instanceof StoreUnavailableError) throw error;
  const message = error instanceof Error ? error.message : String(error);
  return { reason: message.split('\n')[0].slice(0, MAX_REASON) };
}

async function reencryptClient(
  store: ClientStore,
  box: SecretBox,
  id: string,
): Promise<'reencrypted' | 'current' | 'unreadable'> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const entry = await store.getClient(id);
    if (!entry || !needsReseal(entry, box.primaryKeyId)) return 'current';
    let resealed: Pick<ClientEntry, 'client' | 'token'>;
    try {
      resealed = reseal(entry, box);
    } catch (error) {
      if (error instanceof SealedValueError) return 'unreadable';
      throw error;
    }
    const written = await store.updateClient(id, entry.client.generation, resealed);
    if (written === 'ok') return 'reencrypted';
    if (written === 'not_found') return 'current';
  }
  throw new Error(`client ${id} kept changing while it was re-encrypted; run the command again`);
}

/** Any sealed field of the record (secret, API key, private key, certificate) or its token under an older key. */
function needsReseal({ client, token }: ClientEntry, primaryKeyId: string): boolean {
  return (
    sealedFieldsOf(client).some((field) => SecretBox.keyIdOf(sealedValue(client, field) ?? '') !== primaryKeyId) ||
    (token !== null && SecretBox.keyIdOf(token.sealedAccessToken) !== primaryKeyId)
  );
}

function reseal({ client, token }: ClientEntry, box: SecretBox): Pick<ClientEntry, 'client' | 'token'> {
  return {
    client: resealed(box, client),
    token: token && {
      ...token,
      sealedAccessToken: box.seal(
        box.open(token.sealedAccessToken, tokenContext(client.id, token)),
        tokenContext(client.id, token),
      ),
    },
  };
}

export interface WebhookReencryptReport {
  webhooks: number;
  reencrypted: number;
  /** Ids of webhooks whose secret no configured key opens. */
  unreadable: string[];
}

/**
 * Seals every webhook's signing secret again under the first key of the
 * ring. A webhook deleted or replaced meanwhile is left as it is now.
 */
export async function reencryptWebhooks(store: WebhookStore, box: SecretBox): Promise<WebhookReencryptReport> {
  const report: WebhookReencryptReport = { webhooks: 0, reencrypted: 0, unreadable: [] };
  for (const webhook of await store.listWebhooks()) {
    report.webhooks += 1;
    if (SecretBox.keyIdOf(webhook.sealedSecret) === box.primaryKeyId) continue;
    const context = webhookSecretContext(webhook.id);
    let resealed: string;
    try {
      resealed = box.seal(box.open(webhook.sealedSecret, context), context);
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      report.unreadable.push(webhook.id);
      continue;
    }
    if (await store.replaceWebhookSecret(webhook.id, webhook.sealedSecret, resealed)) report.reencrypted += 1;
  }
  return report;
}
