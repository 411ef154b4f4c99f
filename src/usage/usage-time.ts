/** A usage time (epoch ms from UsageStore) as the API shows times: ISO 8601, or null for never used. */
export function usageTime(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}
