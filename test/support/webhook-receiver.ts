import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the receiver answers: a status, never (hang), a reset connection, or a status then an endless body. */
export type ReceiverMode = { status: number } | 'hang' | 'reset' | 'endless';

/**
 * A real HTTP server standing in for a webhook receiver: records every
 * delivery (headers and raw body) and answers as told.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  mode: ReceiverMode = { status: 204 };
  /** Bytes written by 'endless' answers. */
  bytesSent = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(path = '/hooks/token-broker'): Promise<WebhookReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
    server.on('connection', (socket) => {
      receiver.sockets.add(socket);
      socket.on('close', () => receiver.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.received.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        receiver.answer(res);
      });
    });
    return receiver;
  }

  /** The parsed bodies, oldest first. */
  events(): { type: string; timestamp: string; data: Record<string, unknown> }[] {
    return this.received.map((delivery) => JSON.parse(delivery.body));
  }

  /** Verifies every delivery with the Standard Webhooks reference library; throws on the first that fails. */
  verifyAll(secret: string): unknown[] {
    const webhook = new Webhook(secret);
    return this.received.map((delivery) => webhook.verify(delivery.body, delivery.headers as Record<string, string>));
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(res: ServerResponse): void {
    const mode = this.mode;
    if (mode === 'hang') return;
    if (mode === 'reset') return void res.socket?.destroy();
    if (mode === 'endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(1024 ** 3) });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        for (;;) {
          this.bytesSent += chunk.length;
          if (!res.write(chunk)) break;
        }
      }, 1);
      this.timers.add(timer);
      return;
    }
    res.writeHead(mode.status).end();
  }
}
