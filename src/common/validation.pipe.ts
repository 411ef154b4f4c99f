import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { BrokerError, type FieldProblem } from './broker-error';

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
      exceptionFactory: (errors) => {
        const details = flatten(errors);
        return new BrokerError('bad_request', `Invalid ${details.map((d) => d.field).join(', ')}`, { details });
      },
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && (value === undefined || value === null || value === '')) value = {};
    if ((metadata.type === 'body' || metadata.type === 'query') && (typeof value !== 'object' || Array.isArray(value))) {
      throw new BrokerError('bad_request', 'The body must be a JSON object', {
        details: [{ field: metadata.type, problems: ['must be a JSON object'] }],
      });
    }
    // class-transformer and class-validator recurse into whatever they are given; a body nested
    // thousands deep (well under 64 KB) would overflow the stack and answer 500.
    if (nestingDepthExceeds(value, MAX_NESTING_DEPTH)) {
      throw new BrokerError('bad_request', `The ${metadata.type} is nested too deeply`, {
        details: [{ field: metadata.type, problems: [`must not nest objects or arrays more than ${MAX_NESTING_DEPTH} deep`] }],
      });
    }
    return super.transform(value, metadata);
  }
}

/** No field of the API nests more than a couple of levels; this leaves room and stops abuse. */
export const MAX_NESTING_DEPTH = 16;

/** Iterative, so that checking a deep value cannot itself overflow the stack. */
function nestingDepthExceeds(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
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
    const property = unknown && !QUOTABLE_FIELD.test(error.property) ? '(unknown field name not shown)' : error.property;
    const field = parent ? `${parent}.${property}` : property;
    const own: FieldProblem[] = error.constraints
      ? [{ field, problems: [...new Set(Object.entries(error.constraints).map(([name, message]) => (name === 'whitelistValidation' ? 'unknown field' : message)))] }]
      : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}
