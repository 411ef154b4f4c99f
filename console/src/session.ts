/**
 * The admin key lives in sessionStorage only: gone when the tab closes, never
 * in a URL, a cookie or localStorage, and never sent anywhere but in the
 * Authorization header of this origin's API calls.
 */
const SESSION_KEY = 'token-broker.adminKey';

export function readAdminKey(): string | null {
  return sessionStorage.getItem(SESSION_KEY);
}

export function saveAdminKey(key: string): void {
  sessionStorage.setItem(SESSION_KEY, key);
}

export function clearAdminKey(): void {
  sessionStorage.removeItem(SESSION_KEY);
}
