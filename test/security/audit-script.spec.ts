// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decide } = require('../../scripts/audit.js') as {
  decide: (stdout: string, stderr: string, status: number) => { exit: number; message: string };
};

/** scripts/audit.js, as .ci/run uses it: what counts as a failure, a pass and a skip. */
describe('scripts/audit.js', () => {
  const report = (counts: Record<string, number>, vulnerabilities: object = {}) =>
    JSON.stringify({
      auditReportVersion: 2,
      vulnerabilities,
      metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0, ...counts } },
    });

  it('fails on a high or a critical advisory, naming the package', () => {
    expect(decide(report({ high: 1 }, { fastify: { severity: 'high' } }), '', 1)).toEqual({
      exit: 1,
      message: expect.stringContaining('fastify (high)'),
    });
    expect(decide(report({ critical: 2 }), '', 1).exit).toBe(1);
  });

  it('passes with only low or moderate advisories, or none', () => {
    expect(decide(report({ low: 3, moderate: 1 }), '', 0).exit).toBe(0);
    expect(decide(report({}), '', 0).exit).toBe(0);
  });

  it('skips with a printed warning when the audit endpoint is unavailable (405, ENOAUDIT)', () => {
    const answer405 = JSON.stringify({
      message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
      statusCode: 405,
      body: '',
    });
    expect(decide(answer405, 'npm error audit endpoint returned an error', 1)).toEqual({
      exit: 0,
      message: expect.stringMatching(/^WARNING: npm audit SKIPPED/),
    });
    expect(decide('', 'npm error code ENOAUDIT', 1)).toEqual({ exit: 0, message: expect.stringContaining('SKIPPED') });
  });

  it('fails on any other error, so a broken check never looks clean', () => {
    expect(decide('', 'npm error code ENOTFOUND registry.npmjs.org', 1).exit).toBe(1);
    expect(decide('not json', '', 1).exit).toBe(1);
  });
});
