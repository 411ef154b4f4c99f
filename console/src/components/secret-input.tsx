import { useState } from 'preact/hooks';
import { readSecretFile } from '../format';

interface SecretInputProps {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  hint?: string;
}

/**
 * Secret material typed (hidden) or loaded from a file, so that a key file
 * (a PEM) never passes through the clipboard. The value stays in memory only.
 */
export function SecretInput({ id, label, value, onInput, hint }: SecretInputProps) {
  const [fileName, setFileName] = useState<string | null>(null);
  const onFile = async (event: Event) => {
    const file = (event.currentTarget as HTMLInputElement).files?.[0];
    if (!file) return;
    onInput(await readSecretFile(file));
    setFileName(file.name);
  };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type="password"
        autocomplete="off"
        spellcheck={false}
        value={value}
        required
        aria-describedby={`${id}-hint`}
        onInput={(event) => {
          setFileName(null);
          onInput((event.currentTarget as HTMLInputElement).value);
        }}
      />
      <label for={`${id}-file`} class="file-label">
        or load it from a file
      </label>
      <input id={`${id}-file`} type="file" onChange={onFile} aria-describedby={`${id}-hint`} />
      <p id={`${id}-hint`} class="hint">
        {fileName ? `Loaded from ${fileName}. ` : ''}
        {hint ?? 'Never shown again: the broker keeps it encrypted.'}
      </p>
    </div>
  );
}
