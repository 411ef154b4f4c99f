import { MAX_EXTRA_PARAMS, type ParamRow } from './extra-params-rows';

interface ExtraParamsProps {
  rows: ParamRow[];
  onChange: (rows: ParamRow[]) => void;
}

function ParamRowFields(props: { index: number; row: ParamRow; update: (row: ParamRow) => void; remove: () => void }) {
  const { index, row } = props;
  const n = index + 1;
  return (
    <div class="param-row">
      <div class="field">
        <label for={`param-name-${index}`}>Parameter {n} name</label>
        <input
          id={`param-name-${index}`}
          value={row.name}
          spellcheck={false}
          onInput={(event) => props.update({ ...row, name: (event.currentTarget as HTMLInputElement).value })}
        />
      </div>
      <div class="field">
        <label for={`param-value-${index}`}>Parameter {n} value</label>
        <input
          id={`param-value-${index}`}
          value={row.value}
          spellcheck={false}
          onInput={(event) => props.update({ ...row, value: (event.currentTarget as HTMLInputElement).value })}
        />
      </div>
      <button type="button" class="link" onClick={props.remove} aria-label={`Remove parameter ${n}`}>
        Remove
      </button>
    </div>
  );
}

/** extraParams as rows of name and value, at most 10 (e.g. audience, resource). */
export function ExtraParams({ rows, onChange }: ExtraParamsProps) {
  const update = (index: number) => (row: ParamRow) => onChange(rows.map((old, i) => (i === index ? row : old)));
  // Keyboard users land on the new row's name, and on "Add a parameter" when their row is removed.
  const focusLater = (id: string) => requestAnimationFrame(() => document.getElementById(id)?.focus());
  const remove = (index: number) => () => {
    onChange(rows.filter((_, i) => i !== index));
    focusLater('add-param');
  };
  const add = () => {
    onChange([...rows, { name: '', value: '' }]);
    focusLater(`param-name-${rows.length}`);
  };
  return (
    <fieldset aria-describedby="params-hint">
      <legend>Extra token request parameters (optional)</legend>
      <p id="params-hint" class="hint">
        Added to every token request, e.g. audience or resource. At most {MAX_EXTRA_PARAMS}; names of A-Z, a-z, 0-9, _,
        . and -; values up to 512 characters.
      </p>
      {rows.map((row, index) => (
        <ParamRowFields key={index} index={index} row={row} update={update(index)} remove={remove(index)} />
      ))}
      <button type="button" id="add-param" class="add-param" disabled={rows.length >= MAX_EXTRA_PARAMS} onClick={add}>
        Add a parameter
      </button>
    </fieldset>
  );
}
