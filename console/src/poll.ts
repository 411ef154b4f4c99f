import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Polled<T> {
  data: T | null;
  error: ApiError | null;
  reload: () => void;
}

/**
 * Loads now and again every `intervalMs` while the tab is visible, so states
 * change on screen by themselves. A new `deps` value starts over.
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let cancelled = false;
    const run = () => {
      if (document.visibilityState === 'hidden') return;
      loadRef.current().then(
        (value) => {
          if (cancelled) return;
          setData(value);
          setError(null);
        },
        (reason) => {
          if (!cancelled) setError(reason instanceof ApiError ? reason : new ApiError(0, 'internal', String(reason)));
        },
      );
    };
    run();
    const timer = window.setInterval(run, intervalMs);
    return () => {
      cancelled = true;
      window.clearInterval(timer);
    };
  }, [...deps, tick]);

  useEffect(() => setData(null), deps);

  return { data, error, reload: () => setTick((value) => value + 1) };
}
