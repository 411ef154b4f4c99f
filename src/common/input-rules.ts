import 'reflect-metadata';
import type { FieldProblem } from './broker-error';

/**
 * Rules every request value obeys, whatever the DTO says, so that a field
 * added later cannot forget them: no text with a lone UTF-16 surrogate (Redis'
 * JSON decoder refuses the stored record, and every later write of it fails),
 * no control characters (a key read from a file with its trailing newline
 * can never be sent in a header), and no `null` except where a DTO marks the
 * field @Nullable (class-validator's @IsOptional lets null through as if absent).
 */

export const NOT_WELL_FORMED = 'must be well-formed Unicode text (it contains a lone UTF-16 surrogate)';
export const HAS_CONTROL_CHARACTERS = 'must not contain control characters (such as a newline, a tab or NUL)';
export const IS_NULL = 'must not be null: leave the field out instead';

/** C0 controls, DEL and C1 controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** The same, but for the line breaks a PEM text is made of. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL_CHARACTER_BUT_LINE_BREAK = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
export const HAS_CONTROL_CHARACTERS_BUT_LINE_BREAKS =
  'must not contain control characters other than line breaks (such as a tab or NUL)';
/** With the u flag a surrogate matches only when unpaired (String.prototype.isWellFormed is not in lib ES2023). */
const LONE_SURROGATE = /\p{Surrogate}/u;

const NULLABLE_FIELDS = Symbol('nullableFields');
const MULTILINE_FIELDS = Symbol('multilineFields');
const PER_ITEM_FIELDS = Symbol('perItemFields');

/** The one kind of field where `null` means something (e.g. PATCH `scope: null` removes the scope). */
export function Nullable(): PropertyDecorator {
  return (target, property) => {
    const owner = target.constructor;
    const inherited: string[] = Reflect.getMetadata(NULLABLE_FIELDS, owner) ?? [];
    Reflect.defineMetadata(NULLABLE_FIELDS, [...inherited, String(property)], owner);
  };
}

/**
 * The one kind of field where line breaks belong: PEM key and certificate
 * texts, which are lines of base64. Only \n and \r are let through, and only
 * in the field's own top-level string; every other rule holds.
 */
export function MultilineSecret(): PropertyDecorator {
  return (target, property) => {
    const owner = target.constructor;
    const inherited: string[] = Reflect.getMetadata(MULTILINE_FIELDS, owner) ?? [];
    Reflect.defineMetadata(MULTILINE_FIELDS, [...inherited, String(property)], owner);
  };
}

/**
 * A list whose items are validated one by one by the route itself (the batch
 * route): the rules do not look inside it here, so one bad item is that
 * item's 400 and does not refuse the whole body.
 */
export function ValidatedPerItem(): PropertyDecorator {
  return (target, property) => {
    const owner = target.constructor;
    const inherited: string[] = Reflect.getMetadata(PER_ITEM_FIELDS, owner) ?? [];
    Reflect.defineMetadata(PER_ITEM_FIELDS, [...inherited, String(property)], owner);
  };
}

function fieldsOf(metatype: unknown, marker: symbol): readonly string[] {
  return typeof metatype === 'function' ? (Reflect.getMetadata(marker, metatype) ?? []) : [];
}

/** What is wrong with one text, or null. */
export function textProblem(text: string, multiline = false): string | null {
  if (LONE_SURROGATE.test(text)) return NOT_WELL_FORMED;
  if (multiline) return CONTROL_CHARACTER_BUT_LINE_BREAK.test(text) ? HAS_CONTROL_CHARACTERS_BUT_LINE_BREAKS : null;
  if (CONTROL_CHARACTER.test(text)) return HAS_CONTROL_CHARACTERS;
  return null;
}

/** A field name quoted back only when it is a plain identifier; a caller's odd key could be anything. */
const QUOTABLE_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
const UNQUOTED_KEY = '(field name not shown)';

/**
 * Every problem of the rules above in a body, query or path value: one entry
 * per bad field, its path joined by dots (`workspaces.0`). Iterative, so a
 * deep value cannot overflow the stack; the caller bounds the depth first.
 */
export function inputRuleProblems(value: unknown, metatype: unknown): FieldProblem[] {
  const nullable = fieldsOf(metatype, NULLABLE_FIELDS);
  const multiline = fieldsOf(metatype, MULTILINE_FIELDS);
  const perItem = fieldsOf(metatype, PER_ITEM_FIELDS);
  const problems: FieldProblem[] = [];
  const pending: [unknown, string, boolean][] = [[value, '', true]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [current, path, topLevel] = next;
    if (typeof current === 'string') {
      const problem = textProblem(current, multiline.includes(path));
      if (problem) problems.push({ field: path || 'body', problems: [problem] });
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    for (const [key, child] of Object.entries(current)) {
      const name = QUOTABLE_KEY.test(key) || Array.isArray(current) ? key : UNQUOTED_KEY;
      const field = path ? `${path}.${name}` : name;
      const keyProblem = textProblem(key);
      if (keyProblem) problems.push({ field, problems: [`the field name ${keyProblem}`] });
      if (child === null && !(topLevel && nullable.includes(key))) problems.push({ field, problems: [IS_NULL] });
      else if (!(topLevel && perItem.includes(key))) pending.push([child, field, false]);
    }
  }
  return problems.reverse();
}
