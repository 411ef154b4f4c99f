import { useState } from 'preact/hooks';

interface CopyOnceProps {
  id: string;
  title: string;
  label: string;
  value: string;
  explanation: string;
  onDone: () => void;
}

/** A secret shown this once: copied or read, then dismissed; the broker never shows it again. */
export function CopyOnce({ id, title, label, value, explanation, onDone }: CopyOnceProps) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied to the clipboard.');
    } catch {
      (document.getElementById(id) as HTMLInputElement | null)?.select();
      setCopied('The browser refused the clipboard: the secret is selected, copy it with Ctrl+C.');
    }
  };
  return (
    <section class="card new-key" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      <p>{explanation}</p>
      <div class="copy-row">
        <label for={id} class="visually-hidden">
          {label}
        </label>
        <input id={id} class="mono" readOnly value={value} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" class="primary" onClick={copy}>
          Copy
        </button>
      </div>
      {copied && <p role="status">{copied}</p>}
      <button type="button" onClick={onDone}>
        Done, I have stored it
      </button>
    </section>
  );
}
