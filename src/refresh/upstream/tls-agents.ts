import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Agent } from 'node:https';
import { LOGGER, type AppLogger } from '../../common/logger';
import { MetricsService } from '../../metrics/metrics.service';
import { BROKER_STORE, type BrokerStore } from '../../store/broker-store';
import { StoreEventsService } from '../../store/store-events.service';
import type { OAuthClientRecord } from '../../store/store.types';

/** A tls_client_auth client's certificate (chain) and private key, decrypted. */
export interface TlsMaterial {
  certificate: string;
  privateKey: string;
}

interface HeldAgent {
  generation: number;
  agent: Agent;
}

/**
 * One HTTPS agent per tls_client_auth client, holding its certificate and
 * key: the only place they stay decrypted, and only in this process's
 * memory. Like the token cache, it listens to the store's broadcast: any
 * change of the client (rotation, deletion, a new token) drops its agent, and
 * the next request builds one from the record as it is then. It also keeps
 * when each certificate it has held expires, for /metrics.
 */
@Injectable()
export class ClientTlsAgents implements OnModuleDestroy {
  private readonly agents = new Map<string, HeldAgent>();
  /** Client id -> epoch ms its certificate expires; kept across agent drops, re-read on every change. */
  private readonly expiries = new Map<string, number>();

  constructor(
    events: StoreEventsService,
    metrics: MetricsService,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    @Inject(LOGGER) private readonly logger: AppLogger,
  ) {
    events.onClientChanged((id) => this.changed(id));
    events.onResync(() => this.dropAll());
    metrics.setCertificateLifeSource(() => this.leastRemaining(Date.now()));
  }

  /** The client's agent for its current generation, built from `material` when there is none yet. */
  agentFor(client: OAuthClientRecord, material: TlsMaterial): Agent {
    this.noteExpiry(client);
    const held = this.agents.get(client.id);
    if (held && held.generation === client.generation) return held.agent;
    held?.agent.destroy();
    const agent = newAgent(material);
    this.agents.set(client.id, { generation: client.generation, agent });
    return agent;
  }

  /** For a rotation's verification: an agent of material not stored yet, kept by nobody. */
  transientAgent(material: TlsMaterial): Agent {
    return newAgent(material);
  }

  get size(): number {
    return this.agents.size;
  }

  onModuleDestroy(): void {
    this.dropAll();
  }

  private changed(id: string): void {
    this.drop(id);
    if (this.expiries.has(id)) void this.rereadExpiry(id);
  }

  private async rereadExpiry(id: string): Promise<void> {
    try {
      const entry = await this.store.getClient(id);
      if (entry?.client.type === 'oauth_client_credentials') this.noteExpiry(entry.client);
      else this.expiries.delete(id);
    } catch (error) {
      // The store is down: the figure stays as it was, and is read again at the next change.
      this.logger.debug({ clientId: id, err: error }, 'certificate expiry not re-read');
    }
  }

  private noteExpiry(client: OAuthClientRecord): void {
    const expiresAt = client.certificateExpiresAt ? Date.parse(client.certificateExpiresAt) : NaN;
    if (Number.isNaN(expiresAt)) this.expiries.delete(client.id);
    else this.expiries.set(client.id, expiresAt);
  }

  private leastRemaining(now: number): { clientId: string; remainingSeconds: number } | null {
    let least: { clientId: string; remainingSeconds: number } | null = null;
    for (const [clientId, expiresAt] of this.expiries) {
      const remainingSeconds = Math.floor((expiresAt - now) / 1_000);
      if (least === null || remainingSeconds < least.remainingSeconds) least = { clientId, remainingSeconds };
    }
    return least;
  }

  private drop(id: string): void {
    this.agents.get(id)?.agent.destroy();
    this.agents.delete(id);
  }

  private dropAll(): void {
    for (const id of [...this.agents.keys()]) this.drop(id);
  }
}

/** No keep-alive: a token request is one exchange an hour, and an idle socket would outlive a rotation. */
function newAgent(material: TlsMaterial): Agent {
  return new Agent({ cert: material.certificate, key: material.privateKey, keepAlive: false });
}
