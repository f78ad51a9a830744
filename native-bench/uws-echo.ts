// The HTTP ceiling: a bare uWebSockets.js server that answers POST /predict by reading the
// whole body and returning a fixed small JSON document. No parsing, no validation, no
// inference: whatever Vigil does on top of this is the price of its features.
//
// Usage: node dist/native-bench/uws-echo.js [--port N] [--host H]
//        (env UWS_ECHO_PORT / UWS_ECHO_HOST; port 0 picks a free port)
// Prints one JSON line {"url": "http://host:port"} once listening. SIGTERM/SIGINT exit 0.
import uWS from 'uWebSockets.js';

function option(name: string, envName: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[envName] ?? fallback;
}

const host = option('host', 'UWS_ECHO_HOST', '127.0.0.1');
const port = Number(option('port', 'UWS_ECHO_PORT', '0'));
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`uws-echo: invalid port ${JSON.stringify(port)}`);
  process.exit(2);
}

// Roughly the size and shape of a Vigil /predict answer for one binary-classifier row.
const RESPONSE = Buffer.from(
  JSON.stringify({
    model: 'breast-cancer',
    version: '1',
    request_id: '00000000-0000-0000-0000-000000000000',
    predictions: [{ label: 1, probability: 0.9876 }],
  }),
);
const BODY_LIMIT = 1024 * 1024;

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
      res.cork(() => res.writeStatus('400 Bad Request').end('{"error":"empty body"}'));
      return;
    }
    res.cork(() => {
      res.writeHeader('Content-Type', 'application/json').end(RESPONSE);
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
  process.stdout.write(JSON.stringify({ msg: 'uws-echo listening', url: `http://${host}:${actual}` }) + '\n');
});

function stop(): void {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  listenSocket = false;
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
