/**
 * Secrets in disguise, and a scan for any trace of them. Written apart from
 * src/refresh/upstream/redaction.ts on purpose: a test that used the broker's
 * own list of forms could not notice a form missing from it.
 */

/** Runs of this many characters of any form of a secret count as a leak. */
export const LEAK_WINDOW = 8;

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Ways an upstream may echo a secret back. */
export const DISGUISES = {
  raw: (secret: string) => secret,
  /** The first 190 characters, as an upstream that cuts its message does. */
  prefix: (secret: string) => secret.slice(0, 190),
  suffix: (secret: string) => secret.slice(Math.floor(secret.length / 2)),
  /** The two halves with other text between. */
  split: (secret: string) => {
    const half = Math.ceil(secret.length / 2);
    return `${secret.slice(0, half)} ... (cut) ... ${secret.slice(half)}`;
  },
  base64: (secret: string) => Buffer.from(secret, 'utf8').toString('base64'),
  base64url: (secret: string) => Buffer.from(secret, 'utf8').toString('base64url'),
  percent: (secret: string) => encodeURIComponent(secret),
  form: (secret: string) => new URLSearchParams({ v: secret }).toString().slice(2),
  html: (secret: string) => secret.replace(/[&<>"']/g, (character) => HTML_ENTITIES[character]),
  json: (secret: string) => JSON.stringify(secret).slice(1, -1),
  lower: (secret: string) => secret.toLowerCase(),
  upper: (secret: string) => secret.toUpperCase(),
} satisfies Record<string, (secret: string) => string>;

export type Disguise = keyof typeof DISGUISES;
export const DISGUISE_NAMES = Object.keys(DISGUISES) as Disguise[];

/** The encodings of a secret whose every window is searched for (pieces and case are the scan's business). */
export function encodingsOf(secret: string): string[] {
  const { raw, base64, base64url, percent, form, html, json } = DISGUISES;
  return [raw, base64, base64url, percent, form, html, json].map((encode) => encode(secret));
}

export interface SecretToFind {
  /** Names the secret in a finding; never the secret itself. */
  label: string;
  value: string;
}

export interface Leak {
  label: string;
  /** Where the window starts in the scanned text. */
  at: number;
  window: string;
}

/**
 * Finds, case-insensitively, every window of LEAK_WINDOW characters of any
 * encoding of any secret. A secret shorter than that is searched for whole.
 */
export class LeakScanner {
  /** Window to the labels of the secrets it comes from. */
  private readonly windows = new Map<string, Set<string>>();
  private readonly wholes: { label: string; value: string }[] = [];

  constructor(secrets: readonly SecretToFind[]) {
    for (const { label, value } of secrets) {
      for (const encoded of encodingsOf(value).map((form) => form.toLowerCase())) {
        if (encoded.length < LEAK_WINDOW) this.wholes.push({ label, value: encoded });
        for (let start = 0; start + LEAK_WINDOW <= encoded.length; start += 1) {
          const window = encoded.slice(start, start + LEAK_WINDOW);
          this.windows.set(window, (this.windows.get(window) ?? new Set()).add(label));
        }
      }
    }
  }

  /**
   * Leaks in `text`, one per secret and run. Windows of the secrets labelled
   * in `allowed` (a token in its own answer) are not leaks, even where another
   * secret shares them.
   */
  scan(text: string, allowed: readonly string[] = []): Leak[] {
    const folded = text.toLowerCase();
    const leaks: Leak[] = [];
    const lastEnd = new Map<string, number>();
    for (let start = 0; start + LEAK_WINDOW <= folded.length; start += 1) {
      const labels = this.windows.get(folded.slice(start, start + LEAK_WINDOW));
      if (labels === undefined || allowed.some((label) => labels.has(label))) continue;
      for (const label of labels) {
        const window = text.slice(start, start + LEAK_WINDOW);
        if ((lastEnd.get(label) ?? -1) < start) leaks.push({ label, at: start, window });
        lastEnd.set(label, start + LEAK_WINDOW);
      }
    }
    for (const { label, value } of this.wholes) {
      const at = folded.indexOf(value);
      if (at >= 0 && !allowed.includes(label)) leaks.push({ label, at, window: text.slice(at, at + value.length) });
    }
    return leaks;
  }
}
