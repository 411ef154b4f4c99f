import { MAX_EXPIRES_IN_SECONDS, readExpiresIn, tokenOutcomeOf } from './token-answer';

describe('readExpiresIn', () => {
  it.each([
    [3600, 3600],
    ['3600', 3600],
    [3599.9, 3599],
    [1, 1],
    [MAX_EXPIRES_IN_SECONDS, MAX_EXPIRES_IN_SECONDS],
  ])('takes %p as %p seconds', (value, seconds) => {
    expect(readExpiresIn(value)).toEqual({ seconds });
  });

  it.each([undefined, null])('calls %p missing', (value) => {
    expect(readExpiresIn(value)).toEqual({ missing: true });
  });

  it.each([0, -5, 0.5, 1e12, 1e13, 1e300, '1e13', Infinity, NaN, '', ' ', 'soon', true, {}, []])(
    'refuses %p',
    (value) => {
      expect(readExpiresIn(value)).toEqual({ invalid: expect.stringContaining('expires_in') });
    },
  );
});

describe('tokenOutcomeOf', () => {
  it('uses the default lifetime when the answer has no expires_in', () => {
    expect(tokenOutcomeOf({ access_token: 'at' }, 200, null, 1234)).toEqual({
      kind: 'token',
      accessToken: 'at',
      expiresInSeconds: 1234,
    });
  });

  it('makes an invalid lifetime a transient failure, so it is retried with backoff and nothing is served', () => {
    expect(tokenOutcomeOf({ access_token: 'at', expires_in: 0 }, 200, 7, 3600)).toEqual({
      kind: 'transient',
      reason: 'HTTP 200 with an invalid expires_in is not a positive number of seconds',
      httpStatus: 200,
      retryAfterSeconds: 7,
    });
  });

  it('makes an answer without an access_token a transient failure', () => {
    expect(tokenOutcomeOf({ expires_in: 60 }, 200, null, 3600)).toMatchObject({ kind: 'transient' });
    expect(tokenOutcomeOf(null, 200, null, 3600)).toMatchObject({ kind: 'transient' });
  });
});
