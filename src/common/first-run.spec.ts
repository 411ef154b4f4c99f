import { parseConfig } from '../config/config';
import { displayHost, whereToGo } from './first-run';

describe('whereToGo', () => {
  it('a first run (no keys, no Redis) names the API, the console, the docs and the generated admin key', () => {
    const config = parseConfig({ PORT: '3000' });
    const text = whereToGo(config);
    expect(text).toContain('token-broker is up (development, in-process memory store).');
    expect(text).toContain('API        http://localhost:3000/v1\n');
    expect(text).toContain('Console    http://localhost:3000/console/\n');
    expect(text).toContain('API docs   http://localhost:3000/docs\n');
    expect(text).toContain(`export ADMIN_KEY=${config.adminKeys[0]}\n`);
    expect(text.split(config.adminKeys[0]).length - 1).toBe(1);
  });

  it('with configured admin keys, points to them and prints none', () => {
    const key = 'adm_configured_key_0123456789';
    const text = whereToGo(parseConfig({ HOST: '127.0.0.1', PORT: '8080', BROKER_ADMIN_KEYS: key }));
    expect(text).toContain('Console    http://127.0.0.1:8080/console/');
    expect(text).toContain('one of the keys in BROKER_ADMIN_KEYS');
    expect(text).not.toContain(key);
    expect(text).not.toContain('ADMIN_KEY=');
  });
});

describe('displayHost', () => {
  it.each([
    ['0.0.0.0', 'localhost'],
    ['::', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '[::1]'],
  ])('%s → %s', (host, shown) => expect(displayHost(host)).toBe(shown));
});
