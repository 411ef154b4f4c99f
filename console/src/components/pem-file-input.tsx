import { useState } from 'preact/hooks';

interface PemFileInputProps {
  id: string;
  label: string;
  /** Whether a file has been read into the parent's state; a reset form (the value gone) clears the name shown. */
  loaded: boolean;
  onLoad: (pem: string) => void;
  hint?: string;
}

/** A PEM is text with BEGIN/END lines; anything else (a DER file, a picture) is refused before it is sent. */
export function looksLikePem(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----/.test(text);
}

/**
 * A PEM file (a private key, a certificate chain) chosen with a file input and
 * read in the browser with File.text(): it goes from the file to the request
 * body, never through the clipboard, and is never shown, not even in part.
 */
export function PemFileInput({ id, label, loaded, onLoad, hint }: PemFileInputProps) {
  const [fileName, setFileName] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const onChange = async (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    const text = await file.text();
    // The browser keeps no copy in the input: the text lives in the form's state until it is sent.
    input.value = '';
    if (!looksLikePem(text)) {
      setFileName(null);
      setProblem(`${file.name} is not a PEM file (no -----BEGIN ...----- line).`);
      onLoad('');
      return;
    }
    setProblem(null);
    setFileName(file.name);
    onLoad(text);
  };
  const shownName = loaded ? fileName : null;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type="file"
        accept=".pem,.key,.crt,.cer,application/x-pem-file,text/plain"
        aria-describedby={`${id}-hint`}
        aria-invalid={problem ? true : undefined}
        onChange={onChange}
      />
      <p id={`${id}-hint`} class="hint" aria-live="polite">
        {shownName ? `Loaded from ${shownName}. ` : loaded ? '' : 'No file chosen yet. '}
        {hint ?? 'Read here in the browser and sent once; never shown again.'}
      </p>
      {problem && (
        <p class="field-problem" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}
