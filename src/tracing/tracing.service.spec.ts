import { context, trace } from '@opentelemetry/api';
import { parseConfig } from '../config/config';
import { SPANS, TracingService } from './tracing.service';

/** On, the exporter loads node:http by dynamic import, which jest's VM refuses: test/observability/tracing.e2e-spec.ts runs it. */
describe('TracingService', () => {
  it('off (no OTEL_EXPORTER_OTLP_ENDPOINT): runs the work and nothing else, with no active span or context', async () => {
    const tracing = new TracingService(parseConfig({}));
    expect(tracing.enabled).toBe(false);
    const seen = await tracing.inSpan(SPANS.tokenRequest, { clientId: 'cl_1' }, async (span) => {
      span.set({ workspaceId: 'o_1' });
      return { active: trace.getActiveSpan(), context: context.active() };
    });
    expect(seen.active).toBeUndefined();
    expect(seen.context).toBe(context.active());
    await expect(tracing.inSpan(SPANS.refresh, {}, () => Promise.reject(new Error('kept')))).rejects.toThrow('kept');
    await tracing.onModuleDestroy();
  });
});
