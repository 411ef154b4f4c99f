import {
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import type { LookupFunction } from 'node:net';
import { ADDRESS_NOT_ALLOWED } from './address-guard';
import { RequestNotSent } from './unanswered-request';

/** The raw HTTP exchange with an upstream, below any idea of tokens, circuits or outcomes. */

const MAX_BODY_BYTES = 64 * 1024;

export interface OutgoingRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: OutgoingHttpHeaders;
  body?: string;
  /** For token URLs: refuses host names that resolve to non-public addresses. */
  lookup?: LookupFunction;
  /** tls_client_auth: the client's own agent, holding its certificate and key. */
  agent?: Agent;
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP exchange with node:http, which never follows redirects. Resolves
 * with whatever status came back (the body cut at MAX_BODY_BYTES); rejects,
 * with a message fit to show, when no complete answer arrives in time.
 */
export function exchange(request: OutgoingRequest, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let outgoing: ClientRequest | undefined;
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      finish();
    };
    const fail = (reason: string): void => settle(() => reject(new Error(reason)));
    const timer = setTimeout(() => {
      fail(`no complete answer within ${timeoutMs} ms`);
      outgoing?.destroy();
    }, timeoutMs);

    const options = {
      method: request.method,
      headers: request.headers,
      ...(request.lookup && { lookup: request.lookup }),
      ...(request.agent && { agent: request.agent }),
    };
    const onResponse = (response: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let received = 0;
      const complete = (): void =>
        settle(() =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
      response.on('data', (chunk: Buffer) => {
        const kept = chunk.subarray(0, MAX_BODY_BYTES - received);
        chunks.push(kept);
        received += kept.length;
        if (received >= MAX_BODY_BYTES) {
          complete();
          response.destroy();
        }
      });
      response.on('end', complete);
      response.on('error', (error) => fail(networkFailure(error)));
      response.on('close', () => fail('connection closed before the answer was complete'));
    };
    try {
      outgoing = (request.url.protocol === 'https:' ? httpsRequest : httpRequest)(request.url, options, onResponse);
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        error.code === ADDRESS_NOT_ALLOWED ? settle(() => reject(error)) : fail(networkFailure(error)),
      );
      outgoing.end(request.body);
    } catch (error) {
      // Thrown synchronously for a request that cannot be written, such as a
      // header value with a line break.
      outgoing?.destroy();
      settle(() => reject(new RequestNotSent(errorCode(error))));
    }
  });
}

/** The error's code only: Node's messages can quote header values. */
function networkFailure(error: unknown): string {
  return `network error (${errorCode(error)})`;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}
