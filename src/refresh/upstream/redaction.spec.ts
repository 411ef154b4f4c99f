import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { DISGUISES, DISGUISE_NAMES, LeakScanner } from '../../../test/support/leak-scanner';
import { MAX_REDACTED_TEXT_LENGTH, REDACTED, Redactor, formEncode } from './redaction';

/** A secret with the characters every encoding treats specially, 406 characters long. */
const longSecret = (): string => {
  const secret = `${randomBytes(150).toString('base64url')}+/:%"'<&>\\é ${randomBytes(150).toString('hex')}`;
  return secret.slice(0, 406);
};

const cleaner = (...secrets: string[]) => new Redactor(() => secrets);
const leaksOf = (text: string | null, ...secrets: string[]) =>
  new LeakScanner(secrets.map((value, index) => ({ label: `secret ${index}`, value }))).scan(text ?? '');

describe('Redactor', () => {
  const secret = longSecret();

  it('cuts a 190-character prefix of a 406-character secret out of an error description', () => {
    expect(secret).toHaveLength(406);
    const cleaned = cleaner(secret).clean(`Client authentication failed for secret ${secret.slice(0, 190)}`);
    expect(cleaned).toBe(`Client authentication failed for secret ${REDACTED}`);
  });

  it('cuts both halves of a secret split with other text between', () => {
    const half = secret.length / 2;
    const cleaned = cleaner(secret).clean(`first ${secret.slice(0, half)} and then ${secret.slice(half)} end`);
    expect(cleaned).toBe(`first ${REDACTED} and then ${REDACTED} end`);
  });

  it('cuts any piece of 8 characters or more, wherever it starts', () => {
    const redactor = cleaner(secret);
    for (const [start, length] of [
      [0, 8],
      [37, 8],
      [398, 8],
      [100, 50],
      [200, 206],
    ]) {
      expect(redactor.clean(`<${secret.slice(start, start + length)}>`)).toBe(`<${REDACTED}>`);
    }
  });

  it.each(DISGUISE_NAMES)('cuts the secret in disguise, embedded in a sentence: %s', (name) => {
    const secretOfForty = `pd_cs_${randomBytes(12).toString('hex')}+/:%"'<&>\\é`;
    const cleaned = cleaner(secretOfForty).clean(`The secret you sent, ${DISGUISES[name](secretOfForty)}, is wrong.`);
    expect(cleaned).toMatch(/^The secret you sent, (\[redacted\].*)+, is wrong\.$/);
    expect(leaksOf(cleaned, secretOfForty)).toEqual([]);
  });

  it.each(DISGUISE_NAMES)('cuts the secret in disguise, upper- and lower-cased: %s', (name) => {
    for (const changeCase of [(text: string) => text.toUpperCase(), (text: string) => text.toLowerCase()]) {
      const cleaned = cleaner(secret).clean(`got ${changeCase(DISGUISES[name](secret))}`);
      expect(cleaned?.startsWith(`got ${REDACTED}`)).toBe(true);
      expect(leaksOf(cleaned, secret)).toEqual([]);
    }
  });

  it('cuts the Basic credential and its pieces', () => {
    const basic = Buffer.from(`client:${formEncode(secret)}`).toString('base64');
    const cleaned = cleaner(secret, basic).clean(`Authorization: Basic ${basic.slice(0, 120)}`);
    expect(cleaned).toBe(`Authorization: Basic ${REDACTED}`);
  });

  it('still cuts a secret shorter than the window, whole and in any case', () => {
    const cleaned = cleaner('a b+c"d').clean('bad a b+c"d, A B+C"D and a+b%2Bc%22d');
    expect(cleaned).toBe(`bad ${REDACTED}, ${REDACTED} and ${REDACTED}`);
  });

  it('leaves ordinary words alone: 7 characters in common are kept, 8 are cut', () => {
    const wordy = 'correct-horse-battery-staple-8731';
    const redactor = cleaner(wordy);
    expect(redactor.clean('The request is not correct: horse and battery are staples')).toBe(
      'The request is not correct: horse and battery are staples',
    );
    expect(redactor.clean('not correct-')).toBe(`not ${REDACTED}`);
    expect(redactor.clean('is correct-h')).toBe(`is ${REDACTED}`);
  });

  it('leaves an ordinary error description untouched', () => {
    const description =
      'Client authentication failed (unknown client, no client authentication included, or unsupported method).';
    expect(cleaner(secret, Buffer.from(`pd_client:${secret}`).toString('base64')).clean(description)).toBe(description);
  });

  it('caps the text, after redaction and never inside a surrogate pair', () => {
    const tail = 'x'.repeat(MAX_REDACTED_TEXT_LENGTH - REDACTED.length);
    expect(cleaner(secret).clean(`${secret}${'x'.repeat(500)}`)).toBe(`${REDACTED}${tail}`);
    const emoji = `${'a'.repeat(MAX_REDACTED_TEXT_LENGTH - 1)}😀tail`;
    expect(cleaner(secret).clean(emoji)).toBe('a'.repeat(MAX_REDACTED_TEXT_LENGTH - 1));
  });

  it('never leaves half of a surrogate pair, and replaces lone ones', () => {
    const seven = randomBytes(4).toString('hex').slice(0, 7);
    // A match that ends after the first half of 😁 (😀 shares it), and one that starts at the second half of 𐘀.
    expect(cleaner(`${seven}😀`).clean(`x${seven}😁y`)).toBe(`x${REDACTED}y`);
    expect(cleaner(`😀${seven}`).clean(`x\u{10600}${seven}y`)).toBe(`x${REDACTED}y`);
    expect(cleaner(secret).clean('a \ud83d b \ude00')).toBe('a \ufffd b \ufffd');
  });

  it('is null for anything but text', () => {
    const redactor = cleaner(secret);
    for (const value of [undefined, null, 42, { secret }, [secret]]) expect(redactor.clean(value)).toBeNull();
  });

  it('works out the forms only when an answer needs cleaning, and once', () => {
    const sensitive = jest.fn(() => [secret]);
    const redactor = new Redactor(sensitive);
    expect(sensitive).not.toHaveBeenCalled();
    redactor.clean('one');
    redactor.clean('two');
    expect(sensitive).toHaveBeenCalledTimes(1);
  });

  it('cleans a large answer quickly', () => {
    const redactor = cleaner(secret, longSecret(), longSecret());
    const text = `${'word '.repeat(12_000)}${secret}`;
    const started = performance.now();
    expect(redactor.clean(text)).toHaveLength(MAX_REDACTED_TEXT_LENGTH);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  describe('property: no window of any form of a secret survives', () => {
    const characters = fc.constantFrom(...'abcXYZ019+/=:%"\'<>&\\ é_-.~!'.split(''));
    const secretArbitrary = fc.array(characters, { minLength: 8, maxLength: 120 }).map((units) => units.join(''));
    const disguise = fc.constantFrom(...DISGUISE_NAMES);
    const caseChange = fc.constantFrom<(text: string) => string>(
      (text) => text,
      (text) => text.toUpperCase(),
      (text) => text.toLowerCase(),
    );
    const surrounding = fc.string({ maxLength: 40 });

    it('for random secrets, disguises and surrounding text', () => {
      fc.assert(
        fc.property(
          secretArbitrary,
          fc.tuple(disguise, caseChange),
          fc.tuple(surrounding, surrounding),
          (value, [name, recase], [head, tail]) => {
            const cleaned = cleaner(value).clean(`${head}${recase(DISGUISES[name](value))}${tail}`);
            expect(leaksOf(cleaned, value)).toEqual([]);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('for several secrets echoed together, each sliced at random', () => {
      const piece = fc.tuple(secretArbitrary, disguise, fc.nat(), fc.nat());
      fc.assert(
        fc.property(fc.array(piece, { minLength: 1, maxLength: 3 }), surrounding, (pieces, glue) => {
          const values = pieces.map(([value]) => value);
          const echoed = pieces.map(([value, name, from, length]) => {
            const disguised = DISGUISES[name](value);
            const start = from % disguised.length;
            return disguised.slice(start, start + Math.max(8, length % disguised.length));
          });
          const cleaned = cleaner(...values).clean(echoed.join(glue));
          expect(leaksOf(cleaned, ...values)).toEqual([]);
        }),
        { numRuns: 300 },
      );
    });
  });
});
