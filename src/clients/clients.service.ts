import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { BrokerError } from '../common/broker-error';
import { FifoLimiter } from '../common/fifo-limiter';
import { toPage, type Page, type PageQueryDto } from '../common/page-query';
import { SecretBox } from '../crypto/secret-box';
import { BROKER_STORE, DuplicateClientError, type BrokerStore, type ClientChange } from '../store/broker-store';
import { initialStatus, type ClientEntry, type ClientRecord } from '../store/store.types';
import { RefreshFacade } from '../refresh/refresh.facade';
import { UsageRecorder } from '../usage/usage-recorder';
import { ClientEdits, tokenInputsOf } from './client-edits';
import { toClientView, type ClientView } from './client-view';
import type { CreateClientDto } from './dto/create-client.dto';
import type { RotateSecretDto } from './dto/rotate-secret.dto';
import { StoreEventsService } from '../store/store-events.service';
import type { UpdateClientDto } from './dto/update-client.dto';
import { openMaterial } from '../client-auth/sealed-material';
import { NewClientFactory } from './new-client';

/**
 * Registrations and deletions in progress at once on one replica; the rest
 * wait their turn. A bulk import sent with many connections would otherwise
 * take every cycle of the event loop, and refreshes of the tokens already
 * held would fall behind (measured: 55 s late at p99 while 100,000 clients
 * registered at 64 in flight, 12 ms once registration was over).
 */
const BULK_WRITES_IN_FLIGHT = 8;
/** While refreshes are behind, a registration waits for them this long at most (then goes ahead). */
const REFRESH_BACKLOG_WAIT_MS = 500;
/**
 * Clients of a batch stored per store call: a few pipelines of this many
 * scripts each, short enough that Redis answers refreshes in between. Their
 * first fetches do not hold them back: the refresh module spreads them
 * (RefreshFacade.registering).
 */
const INSERT_CHUNK = 250;
/**
 * Chunks stored at once, over all batches: while one waits on Redis, another
 * is encoded. One at a time left this process idle a fifth of an import (on
 * the bench: 3,900 clients/s with one, 5,400/s with four, refreshes of held
 * tokens still on time, since each chunk passes caughtUp first).
 */
const CHUNKS_IN_FLIGHT = 4;
/** A chunk of a batch (a bulk import, no person waiting on it) waits this long at most for refreshes of held tokens. */
const BATCH_BACKLOG_WAIT_MS = 5_000;

/** A validated, sealed client of a batch and its place in the batch. */
interface NewClient {
  index: number;
  entry: ClientEntry;
}

@Injectable()
export class ClientsService {
  private readonly writes = new FifoLimiter(BULK_WRITES_IN_FLIGHT);
  /** Batch chunks in flight: see CHUNKS_IN_FLIGHT. */
  private readonly batchChunks = new FifoLimiter(CHUNKS_IN_FLIGHT);

  constructor(
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly refresh: RefreshFacade,
    private readonly usage: UsageRecorder,
    private readonly newClients: NewClientFactory,
    private readonly edits: ClientEdits,
    private readonly events: StoreEventsService,
  ) {}

  /** Registers the client; its first token is fetched right after, in the background. */
  async create(dto: CreateClientDto, actor: Principal): Promise<ClientView> {
    const entry = this.newClients.entryOf(dto);
    return this.writes.run(() => this.insert(entry, actor));
  }

  /**
   * Registers each dto as create() would, in order (of two with one OAuth
   * client id in a workspace, the second is the 409); per dto its view, or the
   * error create() would have thrown. Stored in chunks: one store round trip
   * per step of a chunk instead of per client, one audit append per chunk.
   */
  async createMany(dtos: readonly CreateClientDto[], actor: Principal): Promise<(ClientView | Error)[]> {
    const results: (ClientView | Error)[] = new Array(dtos.length);
    const valid: NewClient[] = [];
    dtos.forEach((dto, index) => {
      try {
        valid.push({ index, entry: this.newClients.entryOf(dto) });
      } catch (error) {
        results[index] = asError(error);
      }
    });
    for (let start = 0; start < valid.length; start += INSERT_CHUNK) {
      const chunk = valid.slice(start, start + INSERT_CHUNK);
      await this.batchChunks.run(() => this.writes.run(() => this.insertChunk(chunk, results, actor)));
    }
    return results;
  }

  /** createMany's writes for one chunk; each client's result goes to results[its index]. */
  private async insertChunk(chunk: NewClient[], results: (ClientView | Error)[], actor: Principal): Promise<void> {
    await this.refresh.caughtUp(BATCH_BACKLOG_WAIT_MS, true);
    let duplicates: (DuplicateClientError | null)[];
    const ids = chunk.map(({ entry }) => entry.client.id);
    const dueAt = this.refresh.registering(ids, true);
    try {
      duplicates = await this.store.insertClients(
        chunk.map(({ entry }) => entry),
        dueAt,
      );
    } catch (error) {
      this.refresh.notRegistered(ids);
      for (const { index } of chunk) results[index] = asError(error);
      return;
    }
    const stored = chunk.filter((_, position) => duplicates[position] === null);
    this.refresh.notRegistered(ids.filter((_, position) => duplicates[position] !== null));
    chunk.forEach(({ index, entry }, position) => {
      const duplicate = duplicates[position];
      results[index] = duplicate ? conflictOf(entry.client.workspaceId, duplicate) : toClientView(entry);
    });
    if (stored.length === 0) return;
    this.refresh.registered(stored.map(({ entry }) => entry.client.id));
    try {
      await this.audit.recordMany(
        actor,
        'client.create',
        stored.map(({ entry }) => entry.client),
      );
    } catch (error) {
      // As create() answers when its audit fails: the client stands, the caller hears of the failure.
      for (const { index } of stored) results[index] = asError(error);
    }
  }

  private async insert(entry: ClientEntry, actor: Principal): Promise<ClientView> {
    // Refreshes of the tokens already held come first (the measured 55 s above was 25 s with the cap alone).
    await this.refresh.caughtUp(REFRESH_BACKLOG_WAIT_MS);
    const { client } = entry;
    const dueAt = this.refresh.registering([client.id]);
    try {
      await this.store.insertClient(entry, dueAt);
    } catch (error) {
      this.refresh.notRegistered([client.id]);
      if (error instanceof DuplicateClientError) throw conflictOf(client.workspaceId, error);
      throw error;
    }
    await this.audit.record(actor, 'client.create', client.id, client.workspaceId);
    this.refresh.registered([client.id]);
    return toClientView(entry);
  }

  /** A page of clients, with their usage times read in one more store round trip. */
  async list(query: PageQueryDto): Promise<Page<ClientView>> {
    const fetched = await this.store.listClients({
      workspaceId: query.workspaceId,
      afterId: query.cursor,
      limit: query.limit + 1,
    });
    const page = toPage(fetched, query.limit, (entry) => entry.client.id);
    const lastServed = await this.store.lastUsage(
      'clients',
      page.items.map((entry) => entry.client.id),
    );
    return {
      items: page.items.map((entry, index) => toClientView(entry, lastServed[index])),
      nextCursor: page.nextCursor,
    };
  }

  async get(id: string): Promise<ClientView> {
    return this.view(await this.entry(id));
  }

  /**
   * Renaming changes nothing else. A new token URL, scope, request format or
   * provider setting changes what a token is obtained with, so the held token
   * is dropped and a new one fetched.
   */
  async update(id: string, dto: UpdateClientDto, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const next = this.edits.updated(client, dto);
    const tokenInputsChanged = JSON.stringify(tokenInputsOf(next)) !== JSON.stringify(tokenInputsOf(client));
    const change: ClientChange = tokenInputsChanged
      ? { client: { ...next, generation: client.generation + 1 }, token: null, status: initialStatus() }
      : { client: next };
    const updated = await this.commit(entry, change, tokenInputsChanged ? Date.now() : undefined);
    await this.audit.record(actor, 'client.update', id, client.workspaceId);
    return this.view(updated);
  }

  /**
   * Replaces the secret, API key, private key or certificate only once the
   * upstream has accepted it, unless verify is false. On refusal the old
   * material stays in force.
   */
  async rotateSecret(id: string, dto: RotateSecretDto, verify: boolean, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const now = Date.now();
    const rotated: ClientRecord = {
      ...this.edits.rotatedMaterial(client, dto, now),
      generation: client.generation + 1,
      updatedAt: new Date(now).toISOString(),
    };
    let change: ClientChange = { client: rotated, token: null, status: initialStatus() };
    let dueAt = now;
    if (verify) {
      const verified = await this.refresh.verify({ ...entry, client: rotated }, openMaterial(this.box, rotated));
      change = { client: rotated, token: verified.token, status: verified.status };
      dueAt = verified.dueAt;
    }
    const updated = await this.commit(entry, change, dueAt);
    await this.audit.record(actor, 'client.rotate_secret', id, client.workspaceId);
    return this.view(updated);
  }

  async delete(id: string, actor: Principal): Promise<void> {
    await this.writes.run(async () => {
      const removed = await this.store.deleteClient(id);
      if (!removed) throw BrokerError.notFound('Client');
      this.events.clientChangedHere(id);
      await this.forgetUsage(id);
      await this.audit.record(actor, 'client.delete', id, removed.client.workspaceId);
    });
  }

  /** The client view with the client's usage time. */
  private async view(entry: ClientEntry): Promise<ClientView> {
    const [lastServedAt] = await this.store.lastUsage('clients', [entry.client.id]);
    return toClientView(entry, lastServedAt);
  }

  /**
   * A deleted client's usage time goes too. Not worth failing the deletion
   * over: a time left behind (or written back by a replica's late batch) is
   * never read, since client ids are never reused.
   */
  private async forgetUsage(id: string): Promise<void> {
    this.usage.discard('clients', id);
    await this.store.forgetUsage('clients', [id]).catch(() => undefined);
  }

  /** Writes a change fenced on the generation read (the store tells every replica), and reschedules the client when asked. */
  private async commit(entry: ClientEntry, change: ClientChange, dueAt?: number): Promise<ClientEntry> {
    const id = entry.client.id;
    const outcome = await this.store.updateClient(id, entry.client.generation, change);
    if (outcome === 'ok') this.events.clientChangedHere(id);
    if (outcome === 'not_found') throw BrokerError.notFound('Client');
    if (outcome === 'stale')
      throw new BrokerError('conflict', 'The client changed while this request ran; read it again and retry');
    const updated: ClientEntry = {
      client: change.client ?? entry.client,
      status: change.status ?? entry.status,
      token: change.token === undefined ? entry.token : change.token,
    };
    if (dueAt !== undefined) await this.refresh.schedule(id, dueAt);
    return updated;
  }

  private async entry(id: string): Promise<ClientEntry> {
    const entry = await this.store.getClient(id);
    if (!entry) throw BrokerError.notFound('Client');
    return entry;
  }
}

/** The 409 of a client whose OAuth client id the workspace already has. */
function conflictOf(workspaceId: string, duplicate: DuplicateClientError): BrokerError {
  const message = `Workspace ${workspaceId} already has a client with this clientId (${duplicate.existingId})`;
  return new BrokerError('conflict', message);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
