// The HTTP baselines: bare uWebSockets.js servers that answer POST /predict with a fixed JSON
// document shaped like Vigil's /predict answer for one row (same fields, same size, same
// headers). Two modes:
//   --parse none  (default) the bare echo: reads the whole body, never looks at it;
//   --parse json  the JSON echo: reads the whole body and JSON.parses it (400 when it is not
//                 a JSON object), the least any JSON API does.
// No validation, no inference: whatever Vigil does on top of these is the price of its features.
//
// Usage: node dist/native-bench/uws-echo.js [--port N] [--host H] [--parse none|json]
//        (env UWS_ECHO_PORT / UWS_ECHO_HOST; port 0 picks a free port)
// Prints one JSON line {"url": "http://host:port"} once listening. SIGTERM/SIGINT exit 0.
import uWS from 'uWebSockets.js';

function option(name: string, envName: string | null, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return (envName && process.env[envName]) || fallback;
}

const host = option('host', 'UWS_ECHO_HOST', '127.0.0.1');
const port = Number(option('port', 'UWS_ECHO_PORT', '0'));
const parse = option('parse', null, 'none');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`uws-echo: invalid port ${JSON.stringify(port)}`);
  process.exit(2);
}
if (parse !== 'none' && parse !== 'json') {
  console.error(`uws-echo: --parse must be none or json, got ${JSON.stringify(parse)}`);
  process.exit(2);
}
const parseJson = parse === 'json';

// Vigil's answer to one breast-cancer row pinned to v2, byte for byte in size and shape.
const REQUEST_ID = '0123456789abcdef-1';
const RESPONSE = Buffer.from(
  JSON.stringify({
    model: 'breast-cancer',
    version: '2',
    request_id: REQUEST_ID,
    predictions: [{ label: 1, probability: 0.9876, probabilities: [0.0124, 0.9876] }],
  }),
);
const BODY_LIMIT = 1024 * 1024;

function badRequest(res: uWS.HttpResponse, message: string): void {
  res.cork(() => res.writeStatus('400 Bad Request').writeHeader('content-type', 'application/json').end(JSON.stringify({ error: message })));
}

const app = uWS.App();

app.post('/predict', (res) => {
  let aborted = false;
  let received = 0;
  const chunks: Buffer[] = [];
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    // The ArrayBuffer is neutered after this callback returns: copy it.
    received += chunk.byteLength;
    if (received > BODY_LIMIT) {
      if (!aborted) res.cork(() => res.writeStatus('413 Payload Too Large').end());
      aborted = true;
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast || aborted) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (body.length === 0) {
      badRequest(res, 'empty body');
      return;
    }
    if (parseJson) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (err) {
        badRequest(res, `malformed JSON: ${(err as Error).message}`);
        return;
      }
      if (parsed === null || typeof parsed !== 'object') {
        badRequest(res, 'body must be a JSON object');
        return;
      }
    }
    res.cork(() => {
      res
        .writeHeader('content-type', 'application/json')
        .writeHeader('x-request-id', REQUEST_ID)
        .writeHeader('x-model-version', '2')
        .end(RESPONSE);
    });
  });
});

app.any('/*', (res) => {
  res.cork(() => res.writeStatus('404 Not Found').end('{"error":"not found"}'));
});

let listenSocket: uWS.us_listen_socket | false = false;
app.listen(host, port, (socket) => {
  if (!socket) {
    console.error(`uws-echo: could not listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = socket;
  const actual = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  const name = parseJson ? 'uws-json-echo' : 'uws-echo';
  process.stdout.write(JSON.stringify({ msg: `${name} listening`, url: `http://${host}:${actual}` }) + '\n');
});

function stop(): void {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  listenSocket = false;
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
