import { registerDecorator, type ValidationOptions } from 'class-validator';

/**
 * An audit cursor is the id of the last event of a page, a stream id
 * `<ms>-<seq>`. Pages start strictly before it, so `0-0` (before which
 * nothing can be, and which Redis refuses as an exclusive bound) is not one.
 * Digits are bounded so that both stores read the parts as exact numbers.
 */
const AUDIT_CURSOR = /^(\d{1,15})-(\d{1,15})$/;

export const AUDIT_CURSOR_PROBLEM = 'cursor must be a nextCursor value from a previous page';

export function isAuditCursor(value: unknown): boolean {
  const match = typeof value === 'string' ? AUDIT_CURSOR.exec(value) : null;
  return match !== null && (Number(match[1]) > 0 || Number(match[2]) > 0);
}

export function IsAuditCursor(options: ValidationOptions = {}): PropertyDecorator {
  return (target, property) =>
    registerDecorator({
      name: 'isAuditCursor',
      target: target.constructor,
      propertyName: String(property),
      options: { message: AUDIT_CURSOR_PROBLEM, ...options },
      validator: { validate: isAuditCursor },
    });
}
