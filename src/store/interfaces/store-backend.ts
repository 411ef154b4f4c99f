/** The backend itself: which one, whether it answers, and its shutdown. */
export interface StoreBackend {
  readonly kind: 'redis' | 'memory';
  /** Answers when the backend is reachable; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
