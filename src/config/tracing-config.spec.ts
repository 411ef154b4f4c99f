import { ConfigError, parseConfig } from './config';

describe('tracing configuration (standard OTEL_* variables)', () => {
  it('is off without an endpoint, and when disabled by OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
    expect(parseConfig({}).tracing).toBeNull();
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeNull();
    expect(
      parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing,
    ).toBeNull();
  });

  it('appends /v1/traces to the general endpoint, takes the traces endpoint as given, and reads headers and delays', () => {
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/' }).tracing).toEqual({
      tracesUrl: 'https://collector:4318/v1/traces',
      headers: {},
      serviceName: 'token-broker',
      timeoutMs: 10_000,
      scheduleDelayMs: 5_000,
    });
    const tracing = parseConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://ignored:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/custom/path',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=a%2Cb, x-tenant=one',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=two',
      OTEL_SERVICE_NAME: 'broker-eu',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_BSP_SCHEDULE_DELAY: '250',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    }).tracing;
    expect(tracing).toEqual({
      tracesUrl: 'https://collector/custom/path',
      headers: { 'x-api-key': 'a,b', 'x-tenant': 'two' },
      serviceName: 'broker-eu',
      timeoutMs: 2_000,
      scheduleDelayMs: 250,
    });
  });

  it('refuses what it cannot do, naming the variable and never quoting a header value', () => {
    const problems = (env: Record<string, string>): string[] => {
      try {
        parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env });
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    expect(problems({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual([
      'OTEL_EXPORTER_OTLP_PROTOCOL: token-broker exports traces as http/json only (got "grpc")',
    ]);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) must be an http(s) URL',
    ]);
    expect(problems({ OTEL_BSP_SCHEDULE_DELAY: 'soon' })).toEqual([
      'OTEL_BSP_SCHEDULE_DELAY must be an integer of milliseconds from 1 to 600000 (got "soon")',
    ]);
    const headerProblems = problems({ OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=sk_%zz_secret' });
    expect(headerProblems).toEqual([
      'OTEL_EXPORTER_OTLP_HEADERS: the value of "x-api-key" is not valid percent-encoding',
    ]);
    expect(problems({ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' })).toEqual([
      'OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas',
    ]);
  });
});
