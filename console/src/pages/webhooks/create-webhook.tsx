import { useState } from 'preact/hooks';
import { api, ApiError, WEBHOOK_EVENTS, type CreatedWebhook } from '../../api';
import { ErrorBox } from '../../components/error-box';
import { TextField } from '../../components/text-field';

const EVENT_HINTS: Record<(typeof WEBHOOK_EVENTS)[number], string> = {
  'client.failing': 'a client entered failing',
  'client.rejected': 'the upstream refused a client',
  'client.recovered': 'a client is ready again',
  'client.certificate_expiring': 'a client certificate ends within 14 days',
};

/** The events asked for: "*" alone when every event is ticked as "all". */
export function eventsOf(all: boolean, chosen: string[]): string[] {
  return all ? ['*'] : WEBHOOK_EVENTS.filter((event) => chosen.includes(event));
}

function EventChoice(props: {
  all: boolean;
  chosen: string[];
  onAll: (all: boolean) => void;
  onChosen: (e: string[]) => void;
}) {
  const { all, chosen } = props;
  const toggle = (event: string) =>
    props.onChosen(chosen.includes(event) ? chosen.filter((e) => e !== event) : [...chosen, event]);
  return (
    <fieldset>
      <legend>Events</legend>
      <div class="field checkbox">
        <input id="event-all" type="checkbox" checked={all} onChange={() => props.onAll(!all)} />
        <label for="event-all">
          <span class="mono">*</span>: every event, including those added later
        </label>
      </div>
      <div class="checkbox-group">
        {WEBHOOK_EVENTS.map((event) => (
          <div class="field checkbox" key={event}>
            <input
              id={`event-${event}`}
              type="checkbox"
              disabled={all}
              checked={all || chosen.includes(event)}
              onChange={() => toggle(event)}
            />
            <label for={`event-${event}`}>
              <span class="mono">{event}</span> ({EVENT_HINTS[event]})
            </label>
          </div>
        ))}
      </div>
    </fieldset>
  );
}

export function CreateWebhookForm({ onCreated }: { onCreated: (webhook: CreatedWebhook) => void }) {
  const [url, setUrl] = useState('');
  const [all, setAll] = useState(true);
  const [chosen, setChosen] = useState<string[]>([]);
  const [workspaces, setWorkspaces] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const list = workspaces.split(/[\s,]+/).filter(Boolean);
      const body = { url: url.trim(), events: eventsOf(all, chosen), ...(list.length > 0 ? { workspaces: list } : {}) };
      onCreated(await api.createWebhook(body));
      setUrl('');
      setWorkspaces('');
    } catch (reason) {
      setError(reason as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} method="post" action="#" aria-labelledby="create-webhook-title">
      <h2 id="create-webhook-title">Add a webhook</h2>
      <TextField
        id="webhook-url"
        label="URL"
        value={url}
        required
        onInput={setUrl}
        hint="https, with a host in the broker's WEBHOOK_URL_ALLOWLIST."
      />
      <EventChoice all={all} chosen={chosen} onAll={setAll} onChosen={setChosen} />
      <TextField
        id="webhook-workspaces"
        label="Workspaces (optional)"
        value={workspaces}
        onInput={setWorkspaces}
        hint="Comma-separated workspace ids whose clients raise events; empty or * for all."
      />
      <ErrorBox error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Adding…' : 'Add webhook'}
      </button>
    </form>
  );
}
