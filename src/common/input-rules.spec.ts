import {
  HAS_CONTROL_CHARACTERS,
  HAS_CONTROL_CHARACTERS_BUT_LINE_BREAKS,
  inputRuleProblems,
  IS_NULL,
  MultilineSecret,
  NOT_WELL_FORMED,
  Nullable,
  textProblem,
} from './input-rules';
import { toErrorResponse } from './error-response';
import { BrokerError } from './broker-error';

class WithNullableScope {
  @Nullable()
  scope?: string | null;

  name?: string;
}

class WithPem {
  @MultilineSecret()
  privateKey?: string;

  keyId?: string;
}

describe('input rules', () => {
  it('@MultilineSecret lets line breaks through in that field alone; every other rule holds there too', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\r\nMC4C\n-----END PRIVATE KEY-----\n';
    expect(inputRuleProblems({ privateKey: pem }, WithPem)).toEqual([]);
    expect(inputRuleProblems({ privateKey: `${pem}\t` }, WithPem)).toEqual([
      { field: 'privateKey', problems: [HAS_CONTROL_CHARACTERS_BUT_LINE_BREAKS] },
    ]);
    expect(inputRuleProblems({ privateKey: `${pem}\u0000` }, WithPem)).toEqual([
      { field: 'privateKey', problems: [HAS_CONTROL_CHARACTERS_BUT_LINE_BREAKS] },
    ]);
    expect(inputRuleProblems({ privateKey: '\ud800' }, WithPem)).toEqual([
      { field: 'privateKey', problems: [NOT_WELL_FORMED] },
    ]);
    expect(inputRuleProblems({ privateKey: null }, WithPem)).toEqual([{ field: 'privateKey', problems: [IS_NULL] }]);
    expect(inputRuleProblems({ keyId: 'a\nb' }, WithPem)).toEqual([
      { field: 'keyId', problems: [HAS_CONTROL_CHARACTERS] },
    ]);
    expect(inputRuleProblems({ nested: { privateKey: pem } }, WithPem)).toEqual([
      { field: 'nested.privateKey', problems: [HAS_CONTROL_CHARACTERS] },
    ]);
    expect(inputRuleProblems({ privateKey: pem }, WithNullableScope)).toEqual([
      { field: 'privateKey', problems: [HAS_CONTROL_CHARACTERS] },
    ]);
  });

  it('finds lone surrogates and control characters, and accepts paired surrogates and ordinary text', () => {
    for (const text of ['Acme \ud83d', '\udc00', 'a\udc00\ud83db'])
      expect({ text, problem: textProblem(text) }).toEqual({ text, problem: NOT_WELL_FORMED });
    for (const text of ['pd_key\n', '\u0000', 'a\tb', '\u007f', '\u0085', '\u009f'])
      expect({ text, problem: textProblem(text) }).toEqual({ text, problem: HAS_CONTROL_CHARACTERS });
    for (const text of ['Acme 😀', 'Zürich', '', 'a b', '\u00a0', '中文'])
      expect({ text, problem: textProblem(text) }).toEqual({ text, problem: null });
  });

  it('refuses null except in a field marked @Nullable at the top level, and names nested fields by path', () => {
    expect(inputRuleProblems({ scope: null, name: null }, WithNullableScope)).toEqual([
      { field: 'name', problems: [IS_NULL] },
    ]);
    expect(inputRuleProblems({ scope: { inner: null } }, WithNullableScope)).toEqual([
      { field: 'scope.inner', problems: [IS_NULL] },
    ]);
    expect(inputRuleProblems({ workspaces: ['ok', 'bad\n', null] }, undefined)).toEqual([
      { field: 'workspaces.1', problems: [HAS_CONTROL_CHARACTERS] },
      { field: 'workspaces.2', problems: [IS_NULL] },
    ]);
  });

  it('checks field names too, without quoting an odd one back', () => {
    expect(inputRuleProblems({ 'na\ud83dme': 'x' }, undefined)).toEqual([
      { field: '(field name not shown)', problems: [`the field name ${NOT_WELL_FORMED}`] },
    ]);
  });
});

describe('error answers are bounded', () => {
  it('keeps the first 20 details, 5 problems each, and cuts long texts', () => {
    const details = Array.from({ length: 50 }, (_, i) => ({
      field: `f${i}${'x'.repeat(i === 0 ? 1_000 : 0)}`,
      problems: Array.from({ length: 9 }, () => 'p'.repeat(400)),
    }));
    const { body } = toErrorResponse(new BrokerError('bad_request', 'm'.repeat(5_000), { details }));
    expect(body.details).toHaveLength(20);
    expect(
      body.details?.every((detail) => detail.problems.length === 5 && detail.problems.every((p) => p.length <= 300)),
    ).toBe(true);
    expect(body.details?.[0].field.length).toBeLessThanOrEqual(300);
    expect(body.message.length).toBeLessThanOrEqual(1_000);
  });
});
