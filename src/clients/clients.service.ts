import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { BrokerError, type FieldProblem } from '../common/broker-error';
import { FifoLimiter } from '../common/fifo-limiter';
import { newClientId } from '../common/ids';
import { toPage, type Page, type PageQueryDto } from '../common/page-query';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { SecretBox, secretContext } from '../crypto/secret-box';
import { BROKER_STORE, DuplicateClientError, type BrokerStore, type ClientChange } from '../store/broker-store';
import { initialStatus, type ClientEntry, type ClientRecord } from '../store/store.types';
import { RefreshScheduler } from '../tokens/refresh.scheduler';
import { RefreshService } from '../tokens/refresh.service';
import { UpstreamClient } from '../tokens/upstream/upstream.client';
import type { UpstreamOutcome } from '../tokens/upstream/upstream.types';
import { secretHintOf, toClientView, type ClientView } from './client-view';
import type { CreateClientDto } from './dto/create-client.dto';
import type { RotateSecretDto } from './dto/rotate-secret.dto';
import type { UpdateClientDto } from './dto/update-client.dto';
import { checkTokenUrl } from './token-url';

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

@Injectable()
export class ClientsService {
  private readonly writes = new FifoLimiter(BULK_WRITES_IN_FLIGHT);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly upstream: UpstreamClient,
    private readonly refresher: RefreshService,
    private readonly scheduler: RefreshScheduler,
  ) {}

  /** Registers the client; its first token is fetched right after, in the background. */
  async create(dto: CreateClientDto, actor: Principal): Promise<ClientView> {
    const oauth = dto.type === 'oauth_client_credentials';
    const problems: FieldProblem[] = [];
    if (!oauth) {
      for (const field of ['clientId', 'clientSecret', 'tokenUrl', 'scope', 'tokenRequestFormat'] as const) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
    } else if (dto.apiKey !== undefined) {
      problems.push({ field: 'apiKey', problems: ['apiKey is only for api_key clients; send clientSecret'] });
    }
    const tokenUrl = oauth ? this.tokenUrlOrProblem(dto.tokenUrl ?? this.config.defaultTokenUrl, problems) : null;
    if (problems.length > 0) throw invalid(problems);
    return this.writes.run(() => this.insert(dto, tokenUrl, actor));
  }

  private async insert(dto: CreateClientDto, tokenUrl: string | null, actor: Principal): Promise<ClientView> {
    // Refreshes of the tokens already held come first (the measured 55 s above was 25 s with the cap alone).
    await this.scheduler.caughtUp(REFRESH_BACKLOG_WAIT_MS);
    const oauth = dto.type === 'oauth_client_credentials';
    const id = newClientId();
    const secret = oauth ? dto.clientSecret! : dto.apiKey!;
    const now = new Date().toISOString();
    const client: ClientRecord = {
      id,
      workspaceId: dto.workspaceId,
      name: dto.name,
      type: dto.type,
      clientId: oauth ? dto.clientId! : null,
      tokenUrl,
      scope: oauth ? (dto.scope ?? null) : null,
      tokenRequestFormat: dto.tokenRequestFormat ?? 'json',
      secretHint: secretHintOf(secret),
      sealedSecret: this.box.seal(secret, secretContext(id)),
      generation: 1,
      createdAt: now,
      updatedAt: now,
    };
    const entry: ClientEntry = { client, status: initialStatus(), token: null };
    try {
      await this.store.insertClient(entry, Date.now());
    } catch (error) {
      if (error instanceof DuplicateClientError) {
        throw new BrokerError('conflict', `Workspace ${dto.workspaceId} already has a client with this clientId (${error.existingId})`);
      }
      throw error;
    }
    await this.audit.record(actor, 'client.create', id, client.workspaceId);
    this.scheduler.pump();
    return toClientView(entry);
  }

  async list(query: PageQueryDto): Promise<Page<ClientView>> {
    const fetched = await this.store.listClients({ workspaceId: query.workspaceId, afterId: query.cursor, limit: query.limit + 1 });
    const page = toPage(fetched, query.limit, (entry) => entry.client.id);
    return { items: page.items.map(toClientView), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<ClientView> {
    return toClientView(await this.entry(id));
  }

  /**
   * Renaming changes nothing else. A new token URL, scope or request format
   * changes what a token is obtained with, so the held token is dropped and a
   * new one fetched.
   */
  async update(id: string, dto: UpdateClientDto, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const problems: FieldProblem[] = [];
    if (client.type === 'api_key') {
      for (const field of ['tokenUrl', 'scope', 'tokenRequestFormat'] as const) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
    }
    const tokenUrl = dto.tokenUrl === undefined ? client.tokenUrl : this.tokenUrlOrProblem(dto.tokenUrl, problems);
    if (problems.length > 0) throw invalid(problems);

    const next: ClientRecord = {
      ...client,
      name: dto.name ?? client.name,
      tokenUrl,
      scope: dto.scope === undefined ? client.scope : dto.scope,
      tokenRequestFormat: dto.tokenRequestFormat ?? client.tokenRequestFormat,
      updatedAt: new Date().toISOString(),
    };
    const tokenInputsChanged =
      next.tokenUrl !== client.tokenUrl || next.scope !== client.scope || next.tokenRequestFormat !== client.tokenRequestFormat;
    const change: ClientChange = tokenInputsChanged
      ? { client: { ...next, generation: client.generation + 1 }, token: null, status: initialStatus() }
      : { client: next };
    const updated = await this.commit(entry, change, tokenInputsChanged ? Date.now() : undefined);
    await this.audit.record(actor, 'client.update', id, client.workspaceId);
    return toClientView(updated);
  }

  /**
   * Replaces the secret (or API key) only once the upstream has accepted it,
   * unless verify is false. On refusal the old secret stays in force.
   */
  async rotateSecret(id: string, dto: RotateSecretDto, verify: boolean, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const oauth = client.type === 'oauth_client_credentials';
    const secret = oauth ? dto.clientSecret : dto.apiKey;
    const wrongField = oauth ? 'apiKey' : 'clientSecret';
    const rightField = oauth ? 'clientSecret' : 'apiKey';
    if (secret === undefined || dto[wrongField] !== undefined) {
      throw invalid([{ field: dto[wrongField] !== undefined ? wrongField : rightField, problems: [`send ${rightField} to rotate a ${client.type} client`] }]);
    }

    const now = Date.now();
    const rotated: ClientRecord = {
      ...client,
      secretHint: secretHintOf(secret),
      sealedSecret: this.box.seal(secret, secretContext(id)),
      generation: client.generation + 1,
      updatedAt: new Date(now).toISOString(),
    };
    let change: ClientChange = { client: rotated, token: null, status: initialStatus() };
    let dueAt = now;
    if (verify) {
      const askedAt = Date.now();
      const outcome = await this.verify(client, secret);
      const applied = this.refresher.apply({ ...entry, client: rotated }, outcome, 'demand', Date.now(), askedAt);
      change = { client: rotated, token: applied.token ?? null, status: applied.status };
      dueAt = applied.dueAt;
    }
    const updated = await this.commit(entry, change, dueAt);
    await this.audit.record(actor, 'client.rotate_secret', id, client.workspaceId);
    return toClientView(updated);
  }

  async delete(id: string, actor: Principal): Promise<void> {
    await this.writes.run(async () => {
      const removed = await this.store.deleteClient(id);
      if (!removed) throw BrokerError.notFound('Client');
      await this.audit.record(actor, 'client.delete', id, removed.client.workspaceId);
    });
  }

  private async verify(client: ClientRecord, secret: string): Promise<UpstreamOutcome> {
    // Sent whatever the host's circuit says (an admin asked for it); its answer counts as the probe.
    const caller = { clientKey: client.id, verification: true };
    const outcome =
      client.type === 'api_key'
        ? await this.upstream.checkApiKey(secret, caller)
        : await this.upstream.requestToken({
            ...caller,
            tokenUrl: client.tokenUrl!,
            clientId: client.clientId!,
            clientSecret: secret,
            scope: client.scope,
            format: client.tokenRequestFormat,
          });
    if (outcome.kind === 'rejected') {
      const said = [outcome.error, outcome.description].filter(Boolean).join(': ');
      throw new BrokerError('credentials_rejected', `The upstream refused the new credentials${said ? ` (${said})` : ''}; the old secret stays in force`, {
        status: 422,
      });
    }
    if (outcome.kind === 'transient') {
      throw BrokerError.upstreamUnavailable(outcome.retryAfterSeconds ?? 5, `${outcome.reason}; nothing was changed`);
    }
    return outcome;
  }

  /** Writes a change fenced on the generation read (the store tells every replica), and reschedules the client when asked. */
  private async commit(entry: ClientEntry, change: ClientChange, dueAt?: number): Promise<ClientEntry> {
    const id = entry.client.id;
    const outcome = await this.store.updateClient(id, entry.client.generation, change);
    if (outcome === 'not_found') throw BrokerError.notFound('Client');
    if (outcome === 'stale') throw new BrokerError('conflict', 'The client changed while this request ran; read it again and retry');
    const updated: ClientEntry = {
      client: change.client ?? entry.client,
      status: change.status ?? entry.status,
      token: change.token === undefined ? entry.token : change.token,
    };
    if (dueAt !== undefined) {
      await this.store.setDue(id, dueAt);
      this.scheduler.pump();
    }
    return updated;
  }

  private async entry(id: string): Promise<ClientEntry> {
    const entry = await this.store.getClient(id);
    if (!entry) throw BrokerError.notFound('Client');
    return entry;
  }

  private tokenUrlOrProblem(raw: string, problems: FieldProblem[]): string | null {
    const checked = checkTokenUrl(raw, this.config.tokenUrlAllowlist);
    if ('problem' in checked) {
      problems.push({ field: 'tokenUrl', problems: [checked.problem] });
      return null;
    }
    return checked.url;
  }
}

function invalid(details: FieldProblem[]): BrokerError {
  return new BrokerError('bad_request', `Invalid ${details.map((d) => d.field).join(', ')}`, { details });
}
