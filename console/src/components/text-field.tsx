export interface TextFieldProps {
  id: string;
  label: string;
  value: string;
  hint?: string;
  required?: boolean;
  inputMode?: 'numeric';
  onInput: (value: string) => void;
}

/** A labelled text input with its hint tied to it (aria-describedby). */
export function TextField(props: TextFieldProps) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        inputMode={props.inputMode}
        value={props.value}
        required={props.required}
        spellcheck={false}
        aria-describedby={props.hint ? `${props.id}-hint` : undefined}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
      />
      {props.hint && (
        <p id={`${props.id}-hint`} class="hint">
          {props.hint}
        </p>
      )}
    </div>
  );
}
