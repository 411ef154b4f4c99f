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
    return super.transform(value, metadata);
  }
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
