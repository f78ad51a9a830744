#!/usr/bin/env node
// Container health check (the Dockerfile's HEALTHCHECK): exits 0 when the Vigil in this
// container answers 200 on /v2/health/ready (every model loaded and ready), 1 otherwise.
// Reads the same VIGIL_PORT / VIGIL_HOST as the server; a wildcard host is reached on loopback.
const READY_PATH = '/v2/health/ready';
const TIMEOUT_MS = 3000;

function target(env: NodeJS.ProcessEnv): string {
  const port = env.VIGIL_PORT && env.VIGIL_PORT !== '' ? env.VIGIL_PORT : '8080';
  const host = env.VIGIL_HOST && !['0.0.0.0', '::', ''].includes(env.VIGIL_HOST) ? env.VIGIL_HOST : '127.0.0.1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}${READY_PATH}`;
}

async function check(): Promise<number> {
  const url = target(process.env);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (response.status === 200) return 0;
    process.stderr.write(`${url}: ${response.status} ${await response.text()}\n`);
  } catch (error) {
    process.stderr.write(`${url}: ${(error as Error).message}\n`);
  }
  return 1;
}

void check().then((code) => process.exit(code));
