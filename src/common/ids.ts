import { randomBytesPooled } from '../crypto/random-pool';

/** Broker-issued ids: a type prefix and 96 random bits, so ids can be neither guessed nor confused. */
export const newClientId = (): string => `cl_${randomBytesPooled(12).toString('hex')}`;
export const newWebhookId = (): string => `wh_${randomBytesPooled(12).toString('hex')}`;
export const newServiceKeyId = (): string => `sk_${randomBytesPooled(12).toString('hex')}`;

/** What any id in a path may look like; anything else is refused before a lookup. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const WORKSPACE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
