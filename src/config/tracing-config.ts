/**
 * Where and how spans are exported, from the standard OpenTelemetry
 * variables. Null (the default) means tracing is off: no provider, no span.
 */
export interface TracingConfig {
  /** The full OTLP/HTTP traces URL (…/v1/traces). */
  tracesUrl: string;
  /** Sent with every export (a collector's API key, say): never logged. */
  headers: Record<string, string>;
  serviceName: string;
  /** Per export request. */
  timeoutMs: number;
  /** How long ended spans wait to be sent in one batch. */
  scheduleDelayMs: number;
}

type Env = Record<string, string | undefined>;

/** What the JSON exporter speaks; the protobuf and gRPC protocols are not built in. */
const SUPPORTED_PROTOCOL = 'http/json';

/**
 * Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT and
 * _PROTOCOL, OTEL_SERVICE_NAME, OTEL_BSP_SCHEDULE_DELAY, OTEL_SDK_DISABLED
 * and OTEL_TRACES_EXPORTER as the OpenTelemetry specification defines them.
 * Bad values are added to `problems`.
 */
export function parseTracingConfig(env: Env, problems: string[]): TracingConfig | null {
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  if (value('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null;
  if (value('OTEL_TRACES_EXPORTER')?.toLowerCase() === 'none') return null;
  const tracesUrl = tracesUrlOf(value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), value('OTEL_EXPORTER_OTLP_ENDPOINT'));
  if (tracesUrl === null) return null;
  if (!isHttpUrl(tracesUrl)) problems.push('OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) must be an http(s) URL');

  const protocol = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? value('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && protocol !== SUPPORTED_PROTOCOL) {
    problems.push(
      `OTEL_EXPORTER_OTLP_PROTOCOL: token-broker exports traces as ${SUPPORTED_PROTOCOL} only (got "${protocol}")`,
    );
  }
  const exporter = value('OTEL_TRACES_EXPORTER');
  if (exporter !== undefined && exporter.toLowerCase() !== 'otlp') {
    problems.push(`OTEL_TRACES_EXPORTER must be otlp or none (got "${exporter}")`);
  }
  const milliseconds = (name: string, fallback: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (Number.isInteger(parsed) && parsed >= 1 && parsed <= 600_000) return parsed;
    problems.push(`${name} must be an integer of milliseconds from 1 to 600000 (got "${raw}")`);
    return fallback;
  };
  return {
    tracesUrl,
    headers: {
      ...parseHeaders('OTEL_EXPORTER_OTLP_HEADERS', value('OTEL_EXPORTER_OTLP_HEADERS'), problems),
      ...parseHeaders('OTEL_EXPORTER_OTLP_TRACES_HEADERS', value('OTEL_EXPORTER_OTLP_TRACES_HEADERS'), problems),
    },
    serviceName: value('OTEL_SERVICE_NAME') ?? 'token-broker',
    timeoutMs: milliseconds('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', milliseconds('OTEL_EXPORTER_OTLP_TIMEOUT', 10_000)),
    scheduleDelayMs: milliseconds('OTEL_BSP_SCHEDULE_DELAY', 5_000),
  };
}

/** The signal-specific endpoint is used as given; the general one gets /v1/traces appended, as the specification says. */
function tracesUrlOf(tracesEndpoint: string | undefined, endpoint: string | undefined): string | null {
  if (tracesEndpoint !== undefined) return tracesEndpoint;
  if (endpoint === undefined) return null;
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/** `key1=value1,key2=value2`, values percent-encoded. The message never quotes a value: it may be a credential. */
function parseHeaders(name: string, raw: string | undefined, problems: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const separator = pair.indexOf('=');
    const key = pair.slice(0, separator).trim();
    if (separator < 1 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      problems.push(`${name} must be key=value pairs separated by commas`);
      continue;
    }
    try {
      headers[key] = decodeURIComponent(pair.slice(separator + 1).trim());
    } catch {
      problems.push(`${name}: the value of "${key}" is not valid percent-encoding`);
    }
  }
  return headers;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
