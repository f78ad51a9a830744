// pino to stdout, asynchronously (the request path never waits on a write), flushed on exit.
import pino, { type Logger } from 'pino';

export function createLogger(level: string): { logger: Logger; flush: () => void } {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 0 });
  const logger = pino({ level, base: { service: 'vigil' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  return { logger, flush: () => destination.flushSync() };
}
