import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { BrokerError, type FieldProblem } from './broker-error';
import { MAX_DETAILS } from './error-response';
import { inputRuleProblems } from './input-rules';

/**
 * class-validator on every body, query and path parameter: unknown fields are
 * refused, and each bad field gets one `details` entry. Messages name the
 * constraint, never the value, so a secret sent in a wrong place is not echoed.
 */
export class BrokerValidationPipe extends ValidationPipe {
  constructor() {
    super({
      transform: true,
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => invalidInput(flatten(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'custom') return super.transform(value, metadata);
    // No body at all is an empty one; a JSON `null` or `""` is a body, and not an object.
    if (metadata.type === 'body' && value === undefined) value = {};
    const notAnObject = typeof value !== 'object' || value === null || Array.isArray(value);
    if ((metadata.type === 'body' || metadata.type === 'query') && notAnObject) {
      throw new BrokerError('bad_request', `The ${metadata.type} must be a JSON object`, {
        details: [{ field: metadata.type, problems: [`must be a JSON object, not ${kindOf(value)}`] }],
      });
    }
    // class-transformer and class-validator recurse into whatever they are given; a body nested
    // thousands deep (well under 64 KB) would overflow the stack and answer 500.
    if (nestingDepthExceeds(value, MAX_NESTING_DEPTH)) {
      throw new BrokerError('bad_request', `The ${metadata.type} is nested too deeply`, {
        details: [
          { field: metadata.type, problems: [`must not nest objects or arrays more than ${MAX_NESTING_DEPTH} deep`] },
        ],
      });
    }
    const ruleProblems = inputRuleProblems(value, metadata.metatype);
    if (ruleProblems.length === 0) return super.transform(value, metadata);
    // Every bad field in one answer: the DTO's own problems too.
    const dtoProblems = await super.transform(value, metadata).then(
      () => [],
      (error: unknown) => (error instanceof BrokerError ? (error.options.details ?? []) : []),
    );
    throw invalidInput([...ruleProblems, ...dtoProblems]);
  }
}

/** One entry per field, and a message that names the first few (as many as `details` keeps) and counts the rest. */
function invalidInput(problems: FieldProblem[]): BrokerError {
  const byField = new Map<string, Set<string>>();
  for (const { field, problems: list } of problems) {
    const known = byField.get(field) ?? new Set<string>();
    for (const problem of list) known.add(problem);
    byField.set(field, known);
  }
  const details = [...byField].map(([field, list]) => ({ field, problems: [...list] }));
  const named = details
    .slice(0, MAX_DETAILS)
    .map((detail) => detail.field)
    .join(', ');
  const more = details.length - MAX_DETAILS;
  return new BrokerError('bad_request', `Invalid ${named}${more > 0 ? ` and ${more} more fields` : ''}`, { details });
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** No field of the API nests more than a couple of levels; this leaves room and stops abuse. */
export const MAX_NESTING_DEPTH = 16;

/** Iterative, so that checking a deep value cannot itself overflow the stack. */
function nestingDepthExceeds(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [current, depth] = next;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
}

/**
 * An unknown field's name is the caller's text, not ours: one that could be a
 * secret pasted as a key (long, or not a plain identifier) is not quoted back.
 */
const QUOTABLE_FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;

function flatten(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const unknown = error.constraints?.whitelistValidation !== undefined;
    const property =
      unknown && !QUOTABLE_FIELD.test(error.property) ? '(unknown field name not shown)' : error.property;
    const field = parent ? `${parent}.${property}` : property;
    const own: FieldProblem[] = error.constraints
      ? [
          {
            field,
            problems: [
              ...new Set(
                Object.entries(error.constraints).map(([name, message]) =>
                  name === 'whitelistValidation' ? 'unknown field' : message,
                ),
              ),
            ],
          },
        ]
      : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}
