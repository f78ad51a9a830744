#!/usr/bin/env node
// CLI entry: options -> Gateway -> listen; SIGTERM/SIGINT drain and exit 0.
import { isModelName } from './config/names.js';
import { Gateway } from './gateway.js';
import { createLogger } from './logger.js';
import { OptionsError, parseOptions, usage } from './options.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  let options;
  try {
    options = parseOptions(argv);
    // The name becomes the model's folder-like identity: the same rule as repository folders.
    if (options.modelName !== null && !isModelName(options.modelName)) {
      throw new OptionsError(`--model-name '${options.modelName}' must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    }
  } catch (error) {
    if (error instanceof OptionsError) {
      process.stderr.write(`vigil: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { logger, flush } = createLogger(options.logLevel);
  const gateway = new Gateway(options, logger);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight requests');
    gateway.stop().then(
      () => {
        logger.info('stopped');
        flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: (error as Error).message }, 'error while stopping');
        flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // The last resort behind the guards around every uWS callback, timer and worker message: a
  // bug that still escapes is logged (each distinct one once, then counted) and the server keeps
  // serving the requests in flight rather than dropping all of them.
  const seen = new Map<string, number>();
  const lastResort = (kind: string) => (reason: unknown) => {
    const text = String((reason as Error)?.stack ?? reason);
    const count = (seen.get(text) ?? 0) + 1;
    if (seen.size >= 1000 && count === 1) seen.clear(); // bounded, whatever the variety of bugs
    seen.set(text, count);
    if (count === 1) logger.error({ err: text }, kind);
    else if (Number.isInteger(Math.log10(count))) logger.error({ err: text.split('\n')[0], occurrences: count }, `${kind} (repeated)`);
  };
  process.on('unhandledRejection', lastResort('unhandled rejection'));
  process.on('uncaughtException', lastResort('uncaught exception'));
  try {
    await gateway.start();
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, 'cannot start');
    flush();
    process.exit(1);
  }
}

void main();
