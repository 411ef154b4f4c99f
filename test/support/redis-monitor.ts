import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type Redis from 'ioredis';

/**
 * MONITOR over a plain socket. ioredis's own `monitor()` can fail with "Command queue state error"
 * when a monitored line arrives in the same read as MONITOR's `+OK` (seen on a Redis shared with
 * other test files): this reads the stream itself, so a busy server cannot break it.
 *
 * Emits `monitor` with `(time, args, source)` like ioredis: `source` is `lua` for a script's own
 * commands, else the caller's address. Resolves once Redis has answered MONITOR, so every command
 * sent after it is seen.
 */
export class RedisMonitor extends EventEmitter {
  private buffered = '';

  private constructor(private readonly socket: Socket) {
    super();
  }

  static async start(redis: Redis): Promise<RedisMonitor> {
    const { host = '127.0.0.1', port = 6379 } = redis.options;
    const socket = connect({ host, port });
    socket.setEncoding('utf8');
    const monitor = new RedisMonitor(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => socket.write('MONITOR\r\n'));
      monitor.once('ready', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.on('data', (chunk: string) => monitor.read(chunk));
    });
    socket.on('error', () => undefined);
    return monitor;
  }

  disconnect(): void {
    this.socket.destroy();
  }

  private read(chunk: string): void {
    this.buffered += chunk;
    let end: number;
    while ((end = this.buffered.indexOf('\r\n')) >= 0) {
      const line = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      if (line === '+OK') this.emit('ready');
      else this.emitLine(line);
    }
  }

  private emitLine(line: string): void {
    const match = /^\+(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$/.exec(line);
    if (match) this.emit('monitor', match[1], parseArguments(match[3]), match[2]);
  }
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' };

/** Redis quotes each argument (sdscatrepr): `"a" "b\"c" "\x00"`. */
function parseArguments(text: string): string[] {
  const args: string[] = [];
  let index = 0;
  while (index < text.length) {
    if (text[index] !== '"') {
      index += 1;
      continue;
    }
    let value = '';
    index += 1;
    while (index < text.length && text[index] !== '"') {
      if (text[index] === '\\' && text[index + 1] === 'x') {
        value += String.fromCharCode(parseInt(text.slice(index + 2, index + 4), 16));
        index += 4;
      } else if (text[index] === '\\') {
        value += ESCAPES[text[index + 1]] ?? text[index + 1];
        index += 2;
      } else {
        value += text[index];
        index += 1;
      }
    }
    args.push(value);
    index += 1;
  }
  return args;
}
