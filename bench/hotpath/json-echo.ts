// The JSON floor: a bare uWebSockets.js server that reads the POST body, JSON.parse()s it and
// answers a fixed small JSON document. Every microsecond Vigil spends above this server per
// request belongs to one of its own stages (decode, route, observe, hand-off, encode).
//
// Usage: node dist/bench/hotpath/json-echo.js [--port 0] [--host 127.0.0.1]
// Prints one JSON line {"url": ...} once listening; SIGTERM/SIGINT exit 0.
import uWS from 'uWebSockets.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
};
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));

// Roughly the size and shape of a Vigil /predict answer for one binary-classifier row.
const RESPONSE = Buffer.from(JSON.stringify({
  model: 'breast-cancer', version: '2', request_id: '2d652a6cfabba260-1',
  predictions: [{ label: 1, probability: 0.9876, probabilities: [0.0124, 0.9876] }],
}));

const app = uWS.App();
app.any('/*', (res) => {
  let aborted = false;
  const chunks: Buffer[] = [];
  res.onAborted(() => { aborted = true; });
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast || aborted) return;
    let ok = true;
    try {
      JSON.parse((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8'));
    } catch {
      ok = false;
    }
    res.cork(() => {
      if (ok) res.writeHeader('content-type', 'application/json').end(RESPONSE);
      else res.writeStatus('400 Bad Request').end('{"error":"malformed JSON"}');
    });
  });
});

let listenSocket: uWS.us_listen_socket | false = false;
app.listen(host, port, (socket) => {
  if (!socket) {
    console.error(`json-echo: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = socket;
  const actual = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  process.stdout.write(JSON.stringify({ msg: 'json-echo listening', url: `http://${host}:${actual}` }) + '\n');
});
const stop = () => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
