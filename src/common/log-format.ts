import pinoPretty from 'pino-pretty';
import type { DestinationStream } from 'pino';

export type LogFormat = 'pretty' | 'json';

/**
 * Coloured one-line logs for a person at a terminal; JSON lines wherever a
 * program reads them: in production, and whenever stdout is a pipe or a file.
 */
export function chooseLogFormat({ production, stdoutIsTty }: { production: boolean; stdoutIsTty: boolean }): LogFormat {
  return !production && stdoutIsTty ? 'pretty' : 'json';
}

/**
 * Where the logger writes in that format: undefined is pino's own stdout
 * writer (JSON lines). The pretty stream gets each line after redaction, so
 * secrets stay hidden in both.
 */
export function logDestination(format: LogFormat, destination?: NodeJS.WritableStream): DestinationStream | undefined {
  if (format === 'json') return undefined;
  return pinoPretty({
    colorize: destination === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service,context',
    messageFormat: '{if context}[{context}] {end}{msg}',
    sync: true,
    ...(destination ? { destination } : {}),
  });
}
