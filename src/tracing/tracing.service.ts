import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { SpanKind, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import type { TracingConfig } from '../config/tracing-config';

/**
 * What a span may carry: ids, kinds and outcomes, never a secret, a token, a
 * URL's path or query, or an upstream's own words. Each field has one
 * attribute name, so the names cannot drift between call sites.
 */
export interface SpanFields {
  clientId?: string;
  workspaceId?: string;
  /** Why a refresh ran: demand, scheduled, forced. */
  reason?: string;
  outcome?: string;
  /** An upstream or webhook host and port, never the rest of the URL. */
  host?: string;
  port?: number;
  method?: string;
  httpStatus?: number;
  upstreamKind?: string;
  webhookId?: string;
  eventId?: string;
  eventType?: string;
  attempt?: number;
}

const ATTRIBUTE_NAMES: Record<keyof SpanFields, string> = {
  clientId: 'token_broker.client.id',
  workspaceId: 'token_broker.workspace.id',
  reason: 'token_broker.refresh.reason',
  outcome: 'token_broker.outcome',
  host: 'server.address',
  port: 'server.port',
  method: 'http.request.method',
  httpStatus: 'http.response.status_code',
  upstreamKind: 'token_broker.upstream.kind',
  webhookId: 'token_broker.webhook.id',
  eventId: 'token_broker.webhook.event_id',
  eventType: 'token_broker.webhook.event_type',
  attempt: 'token_broker.webhook.attempt',
};

/** The spans the broker makes. */
export const SPANS = {
  /** A token request that missed this replica's cache. */
  tokenRequest: { name: 'token.request', kind: SpanKind.INTERNAL },
  /** A refresh that asked the upstream, from the ask to the store write. */
  refresh: { name: 'token.refresh', kind: SpanKind.INTERNAL },
  /** One HTTP exchange with a token URL or the API-key check. */
  upstreamRequest: { name: 'upstream.request', kind: SpanKind.CLIENT },
  /** One attempt to deliver a webhook event. */
  webhookDelivery: { name: 'webhook.deliver', kind: SpanKind.CLIENT },
} as const;

export type SpanType = (typeof SPANS)[keyof typeof SPANS];

/** A running span, as call sites see it: fields added once they are known. */
export interface TraceSpan {
  set(fields: SpanFields): void;
}

const NO_SPAN: TraceSpan = { set: () => undefined };

/**
 * OpenTelemetry traces, exported over OTLP/HTTP (JSON) when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set. Off, `inSpan` runs its work and nothing
 * else: no span, no context, no provider registered (so no async context
 * tracking either).
 */
@Injectable()
export class TracingService implements OnModuleDestroy {
  private readonly provider: NodeTracerProvider | null;
  private readonly tracer: Tracer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.provider = config.tracing === null ? null : startProvider(config.tracing);
    this.tracer = this.provider?.getTracer('token-broker') ?? null;
  }

  get enabled(): boolean {
    return this.tracer !== null;
  }

  /**
   * Runs `work` inside a span of this type (the child of whatever span is
   * active), ended when the work settles. A thrown error marks the span as
   * failed with the error's code only: messages may quote what an upstream said.
   */
  inSpan<T>(type: SpanType, fields: SpanFields, work: (span: TraceSpan) => Promise<T>): Promise<T> {
    if (this.tracer === null) return work(NO_SPAN);
    return this.tracer.startActiveSpan(
      type.name,
      { kind: type.kind, attributes: attributesOf(fields) },
      async (span) => {
        try {
          return await work({ set: (more) => span.setAttributes(attributesOf(more)) });
        } catch (error) {
          markFailed(span, error);
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  /** The span of one webhook delivery attempt, for the webhook module. */
  traceWebhookDelivery<T>(
    fields: Pick<
      SpanFields,
      'webhookId' | 'eventId' | 'eventType' | 'workspaceId' | 'clientId' | 'attempt' | 'host' | 'port'
    >,
    work: (span: TraceSpan) => Promise<T>,
  ): Promise<T> {
    return this.inSpan(SPANS.webhookDelivery, fields, work);
  }

  /** Sends the spans still batched, within the export timeout. */
  async onModuleDestroy(): Promise<void> {
    await this.provider?.shutdown();
  }
}

function startProvider(config: TracingConfig): NodeTracerProvider {
  const exporter = new OTLPTraceExporter({
    url: config.tracesUrl,
    headers: config.headers,
    timeoutMillis: config.timeoutMs,
  });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.scheduleDelayMs })],
  });
  // Registers the async context manager, so a refresh's span is the child of the token request that caused it.
  provider.register();
  return provider;
}

function attributesOf(fields: SpanFields): Attributes {
  const attributes: Attributes = {};
  for (const [field, value] of Object.entries(fields) as [keyof SpanFields, SpanFields[keyof SpanFields]][]) {
    if (value !== undefined) attributes[ATTRIBUTE_NAMES[field]] = value;
  }
  return attributes;
}

function markFailed(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  const name = typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
  span.setAttribute('error.type', name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: name });
}
