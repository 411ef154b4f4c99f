import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { FieldProblem } from './broker-error';
import { contractErrorBody } from './error-response';
import { jsonAnswerHeaderRecord } from './security-headers';

interface ParserRefusal {
  status: number;
  message: string;
  problem: string;
}

/** Node's HTTP parser refusals, by the code it gives them, in words a caller can act on. */
const REFUSALS: Record<string, ParserRefusal> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request did not arrive in time: send its headers and body without pausing',
    problem: 'must arrive within the server timeouts',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    message: 'The request headers are too large: together they must fit in 16 KB',
    problem: 'must fit in 16 KB',
  },
  HPE_UNEXPECTED_CONTENT_LENGTH: {
    status: 400,
    message: 'The request has both Content-Length and Transfer-Encoding: send one of them',
    problem: 'must not carry both Content-Length and Transfer-Encoding',
  },
  HPE_INVALID_HEADER_TOKEN: {
    status: 400,
    message: 'A request header holds characters HTTP does not allow in a header',
    problem: 'must hold only characters HTTP allows in header names and values',
  },
};

const MALFORMED: ParserRefusal = {
  status: 400,
  message: 'The request is not valid HTTP/1.1',
  problem: 'must be a valid HTTP/1.1 request',
};

/**
 * Fastify's clientErrorHandler: answers what Node's HTTP parser refused before
 * any route saw it, in the contract's error shape and with the headers every
 * other answer carries, then closes the connection (the parser cannot go on).
 * Nothing of the request is quoted back.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // A response already begun on this socket cannot be followed by another one.
  const inProgress = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inProgress?.headersSent) socket.write(rawAnswer(REFUSALS[error.code ?? ''] ?? MALFORMED));
  socket.destroySoon();
}

function rawAnswer(refusal: ParserRefusal): string {
  const details: FieldProblem[] | undefined =
    refusal.status === 400 ? [{ field: 'headers', problems: [refusal.problem] }] : undefined;
  const { status, body } = contractErrorBody(refusal.status, 'bad_request', refusal.message, details);
  const text = JSON.stringify(body);
  const headers = { ...jsonAnswerHeaderRecord(Buffer.byteLength(text)), connection: 'close' };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${status} ${body.error}\r\n${lines.join('\r\n')}\r\n\r\n${text}`;
}
