import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

/** At most this much of a receiver's answer is read: only its status matters. */
export const MAX_ANSWER_BYTES = 4_096;

export interface OutgoingDelivery {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** The SSRF guard: checks every address at connection time. */
  lookup: LookupFunction;
  /** Aborts the attempt (the webhook was deleted, the process stops). */
  signal: AbortSignal;
}

/** The receiver's status, or null with why there is none (kept free of any header or body the receiver sent). */
export type AttemptAnswer = { status: number } | { status: null; reason: string };

/**
 * One POST to a receiver with node:http(s), which never follows redirects (a
 * 3xx is just a status that is not 2xx). Resolves once the status is known
 * and at most MAX_ANSWER_BYTES of the body were read, then drops the
 * connection; a receiver that takes longer than the timeout, resets or
 * answers a gigabyte costs one socket for at most the timeout. Never rejects.
 */
export function sendDelivery(delivery: OutgoingDelivery): Promise<AttemptAnswer> {
  return new Promise((resolve) => {
    let outgoing: ClientRequest | undefined;
    let settled = false;
    const settle = (answer: AttemptAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      delivery.signal.removeEventListener('abort', onAbort);
      outgoing?.destroy();
      resolve(answer);
    };
    const timer = setTimeout(
      () => settle({ status: null, reason: `no answer within ${delivery.timeoutMs} ms` }),
      delivery.timeoutMs,
    );
    const onAbort = (): void => settle({ status: null, reason: 'aborted' });
    delivery.signal.addEventListener('abort', onAbort);
    if (delivery.signal.aborted) return onAbort();

    const onResponse = (response: IncomingMessage): void => {
      const status = response.statusCode ?? 0;
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= MAX_ANSWER_BYTES) settle({ status });
      });
      response.on('end', () => settle({ status }));
      response.on('error', () => settle({ status }));
      response.on('close', () => settle({ status }));
    };
    try {
      const url = new URL(delivery.url);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const headers = { ...delivery.headers, 'content-length': String(Buffer.byteLength(delivery.body)) };
      // No shared agent: every attempt gets a fresh connection, checked by the guard.
      outgoing = send(url, { method: 'POST', headers, lookup: delivery.lookup, agent: false }, onResponse);
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        settle({ status: null, reason: `network error (${error.code ?? 'unknown'})` }),
      );
      outgoing.end(delivery.body);
    } catch (error) {
      settle({ status: null, reason: `not sent (${(error as { code?: string }).code ?? 'invalid request'})` });
    }
  });
}
