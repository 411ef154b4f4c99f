/** Times as the browser's locale shows them, with the ISO value kept for <time dateTime>. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** "in 52 min" or "3 min ago", for token expiry. */
export function relativeTime(iso: string | null, now = Date.now()): string {
  if (!iso) return '—';
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const minutes = Math.round(Math.abs(seconds) / 60);
  const amount = Math.abs(seconds) < 90 ? `${Math.abs(seconds)} s` : `${minutes} min`;
  return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
}

/** Reads a secret from an uploaded file; a trailing newline (editors add one) is not part of it. */
export async function readSecretFile(file: File): Promise<string> {
  const text = await file.text();
  return text.replace(/\r?\n$/, '');
}
