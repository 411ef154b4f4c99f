import type { ClientState } from '../api';

const LABELS: Record<ClientState, string> = {
  pending: 'pending',
  ready: 'ready',
  failing: 'failing',
  rejected: 'rejected',
};

/** The state in words and colour (the word carries it; the colour only helps). */
export function StateBadge({ state }: { state: ClientState }) {
  return <span class={`badge badge-${state}`}>{LABELS[state] ?? state}</span>;
}
