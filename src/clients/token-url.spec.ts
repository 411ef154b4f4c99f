import { parseConfig } from '../config/config';
import { checkTokenUrl } from './token-url';

const allowlist = parseConfig({
  TOKEN_URL_ALLOWLIST: 'api.pipedream.com,http://127.0.0.1:8080,http://localhost',
}).tokenUrlAllowlist;
const check = (url: string) => checkTokenUrl(url, allowlist);

describe('checkTokenUrl', () => {
  it.each([
    ['https://api.pipedream.com/v1/oauth/token', 'https://api.pipedream.com/v1/oauth/token'],
    ['https://API.PIPEDREAM.COM/v1/oauth/token', 'https://api.pipedream.com/v1/oauth/token'],
    ['https://api.pipedream.com./v1/oauth/token', 'https://api.pipedream.com/v1/oauth/token'],
    ['http://127.0.0.1:8080/token', 'http://127.0.0.1:8080/token'],
    ['http://localhost:9999/token', 'http://localhost:9999/token'],
  ])('allows %s', (url, normalised) => {
    expect(check(url)).toEqual({ url: normalised });
  });

  it.each([
    ['http://api.pipedream.com/v1/oauth/token', 'tokenUrl must use https'],
    ['https://evil.example/token', 'tokenUrl host name is not in TOKEN_URL_ALLOWLIST'],
    ['https://api.pipedream.com@evil.example/token', 'tokenUrl must not contain a user name or password'],
    ['https://user:pw@api.pipedream.com/token', 'tokenUrl must not contain a user name or password'],
    ['https://api.pipedream.com.evil.example/token', 'tokenUrl host name is not in TOKEN_URL_ALLOWLIST'],
    ['https://10.0.0.1/token', 'tokenUrl host address is not in TOKEN_URL_ALLOWLIST'],
    ['https://[::1]/token', 'tokenUrl host address is not in TOKEN_URL_ALLOWLIST'],
    ['http://127.0.0.1:8081/token', 'tokenUrl host address is not in TOKEN_URL_ALLOWLIST'],
    ['https://127.0.0.1:8080/token', 'tokenUrl host address is not in TOKEN_URL_ALLOWLIST'],
    ['ftp://api.pipedream.com/token', 'tokenUrl must use https'],
    ['api.pipedream.com/token', 'tokenUrl must be an absolute URL'],
    ['https://api.pipedream.com/token#frag', 'tokenUrl must not contain a fragment'],
  ])('refuses %s', (url, problem) => {
    expect(check(url)).toEqual({ problem });
  });
});
