/**
 * Redaction of upstream text (an OAuth error, an API's refusal) before it is
 * stored or shown: an upstream may echo what it was sent, whole or in part,
 * encoded or not.
 *
 * Every run of text that shares a window of WINDOW characters with any form
 * of a sensitive value (case-insensitively) is replaced. Why 8: a fragment
 * shorter than that leaves a secret of the usual 32 or more characters out of
 * reach, while ordinary words almost never share 8 characters in a row with a
 * random secret or its base64 (one window in 62^8, about 2e14), so error text
 * stays readable. A longer window would let a split into pieces of that length
 * through; a shorter one would start eating words that a secret happens to hold.
 */
export const WINDOW = 8;
export const MAX_REDACTED_TEXT_LENGTH = 200;
export const REDACTED = '[redacted]';
/** Cleaning again can only be needed where a replacement meets text that, joined with it, matches a form. */
const MAX_PASSES = 3;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Built for every upstream request from the values it carries (client secret,
 * Basic credential, API key, and later private keys); the forms and their
 * windows are worked out only when an answer needs cleaning.
 */
export class Redactor {
  private matcher: FormMatcher | null = null;

  constructor(private readonly sensitive: () => readonly string[]) {}

  /** Upstream text made safe to store and show: every trace of a sensitive value replaced, then shortened. */
  clean(value: unknown): string | null {
    if (typeof value !== 'string') return null;
    this.matcher ??= new FormMatcher(this.sensitive().flatMap(sensitiveForms));
    // Lone surrogates become U+FFFD first: one code unit for one, so positions hold, and the stored JSON stays valid.
    let text = value.replace(LONE_SURROGATE, '\uFFFD');
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      const marks = this.matcher.mark(text);
      if (marks === null) return capped(text);
      text = replaceMarkedRuns(text, marks);
    }
    return this.matcher.mark(text) === null ? capped(text) : REDACTED;
  }
}

/**
 * A value as an upstream might echo it back: raw, in either case, form- and
 * percent-encoded, HTML-escaped, JSON-escaped (also ASCII-only, as Python
 * writes JSON), and base64 and base64url of its UTF-8 bytes. Prefixes, splits
 * and other pieces are caught by the windows; case by folding.
 */
export function sensitiveForms(value: string): string[] {
  if (value === '') return [];
  const bytes = Buffer.from(value, 'utf8');
  const forms = [
    value,
    value.toLowerCase(),
    value.toUpperCase(),
    formEncode(value),
    percentEncode(value),
    htmlEscape(value, '&#39;'),
    htmlEscape(value, '&#x27;'),
    JSON.stringify(value).slice(1, -1),
    asciiJson(value),
    bytes.toString('base64'),
    bytes.toString('base64url'),
  ];
  return [...new Set(forms.filter((form) => form !== ''))];
}

/** Finds where text matches a form: windows of long forms through a Set, short forms whole. */
class FormMatcher {
  private readonly windows = new Set<string>();
  private readonly shortForms: string[] = [];

  constructor(forms: readonly string[]) {
    for (const form of new Set(forms.map(foldCase))) {
      if (form.length < WINDOW) this.shortForms.push(form);
      for (let start = 0; start + WINDOW <= form.length; start += 1) {
        this.windows.add(form.slice(start, start + WINDOW));
      }
    }
  }

  /** One mark per code unit of `text`, set where it lies in a match; null when nothing matches. */
  mark(text: string): Uint8Array | null {
    const folded = foldCase(text);
    const marks = new Uint8Array(text.length);
    let found = false;
    for (let start = 0; start + WINDOW <= folded.length; start += 1) {
      if (!this.windows.has(folded.slice(start, start + WINDOW))) continue;
      marks.fill(1, start, start + WINDOW);
      found = true;
    }
    for (const form of this.shortForms) {
      for (let at = folded.indexOf(form); at >= 0; at = folded.indexOf(form, at + 1)) {
        marks.fill(1, at, at + form.length);
        found = true;
      }
    }
    return found ? marks : null;
  }
}

/** Each maximal marked run, widened so it never splits a surrogate pair, becomes one REDACTED. */
function replaceMarkedRuns(text: string, marks: Uint8Array): string {
  let result = '';
  let position = 0;
  while (position < text.length) {
    if (marks[position] === 0) {
      result += text[position];
      position += 1;
      continue;
    }
    if (isLowSurrogate(text, position) && isHighSurrogate(text, position - 1)) result = result.slice(0, -1);
    let end = position;
    while (end < text.length && marks[end] === 1) end += 1;
    if (isLowSurrogate(text, end) && isHighSurrogate(text, end - 1)) end += 1;
    result += REDACTED;
    position = end;
  }
  return result;
}

/** Shortened to MAX_REDACTED_TEXT_LENGTH code units, never between the halves of a surrogate pair. */
function capped(text: string): string {
  if (text.length <= MAX_REDACTED_TEXT_LENGTH) return text;
  const end = isLowSurrogate(text, MAX_REDACTED_TEXT_LENGTH) ? MAX_REDACTED_TEXT_LENGTH - 1 : MAX_REDACTED_TEXT_LENGTH;
  return text.slice(0, end);
}

/**
 * Lower case one character at a time, keeping any character whose lower case
 * has another length (such as 'İ'), so a folded text lines up with the original.
 */
function foldCase(text: string): string {
  let folded = '';
  for (const character of text) {
    const lower = character.toLowerCase();
    folded += lower.length === character.length ? lower : character;
  }
  return folded;
}

function isHighSurrogate(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * application/x-www-form-urlencoded encoding of one value (RFC 6749 section
 * 2.3.1 requires it for each half of the Basic credential). URLSearchParams
 * implements exactly that serializer and, unlike encodeURIComponent, does not
 * throw on a lone surrogate.
 */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice('v='.length);
}

/** encodeURIComponent, which throws on a lone surrogate: such a value has its form encoding instead. */
function percentEncode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return '';
  }
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

/** HTML escaping as template engines do it; they differ in how they write an apostrophe. */
function htmlEscape(value: string, apostrophe: string): string {
  return value.replace(/[&<>"']/g, (character) => HTML_ENTITIES[character] ?? apostrophe);
}

function asciiJson(value: string): string {
  return JSON.stringify(value)
    .slice(1, -1)
    .replace(/[\u007f-\uffff]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
