import { Writable } from 'node:stream';
import { chooseLogFormat, logDestination } from './log-format';
import { createLogger } from './logger';

describe('chooseLogFormat', () => {
  it.each([
    [{ production: false, stdoutIsTty: true }, 'pretty'],
    [{ production: false, stdoutIsTty: false }, 'json'],
    [{ production: true, stdoutIsTty: true }, 'json'],
    [{ production: true, stdoutIsTty: false }, 'json'],
  ] as const)('%j → %s', (situation, format) => {
    expect(chooseLogFormat(situation)).toBe(format);
  });
});

describe('logDestination', () => {
  function capture(): { stream: Writable; text: () => string } {
    let text = '';
    const stream = new Writable({
      write(chunk, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    return { stream, text: () => text };
  }

  it("json is pino's own stdout writer", () => {
    expect(logDestination('json')).toBeUndefined();
  });

  it("pretty writes one readable line per entry, with Nest's context, and still redacts secrets", () => {
    const sink = capture();
    const logger = createLogger('info', logDestination('pretty', sink.stream));
    logger.info({ context: 'RefreshScheduler', clientSecret: 'pretty-secret-0001', clientId: 'c_1' }, 'refreshed');
    const text = sink.text();
    expect(text).toMatch(/INFO.*\[RefreshScheduler\] refreshed/);
    expect(text).toContain('clientId: "c_1"');
    expect(text).toContain('[redacted]');
    expect(text).not.toContain('pretty-secret-0001');
    expect(() => JSON.parse(text.split('\n')[0])).toThrow();
  });
});
