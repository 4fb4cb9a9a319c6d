// An independent WebSocket client (node's ws, Debian's node-ws) for the
// integration tests: sends text and binary messages of the sizes that cross
// frame-length boundaries, checks each echo byte for byte, then closes with
// a code. Prints one JSON line with what it saw; exits 1 on any mismatch.
// Usage: node node_ws_client.js URL [CA_FILE]
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const [url, caFile] = process.argv.slice(2);
const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const messages = [];
for (const size of sizes) {
  messages.push({ binary: false, data: Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz').toString() });
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 13 + 5) & 0xff;
  messages.push({ binary: true, data: bytes });
}

const options = { maxPayload: 4 << 20, handshakeTimeout: 10000 };
if (caFile) options.ca = fs.readFileSync(caFile);
const ws = new WebSocket(url, ['chat.v2'], options);
const result = { ok: false, protocol: null, echoed: 0, closeCode: null };
let next = 0;
const timer = setTimeout(() => finish('timed out'), 60000);

function finish(error) {
  clearTimeout(timer);
  if (error) result.error = String(error);
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

function sendNext() {
  const m = messages[next];
  ws.send(m.data, { binary: m.binary });
}

ws.on('open', () => {
  result.protocol = ws.protocol;
  sendNext();
});
ws.on('message', (data, isBinary) => {
  const m = messages[next];
  const same = isBinary === m.binary &&
      (m.binary ? Buffer.compare(Buffer.from(data), m.data) === 0 : data.toString() === m.data);
  if (!same) return finish(`message ${next} (${m.data.length} bytes) came back different`);
  result.echoed = ++next;
  if (next < messages.length) return sendNext();
  ws.close(4005, 'node done');
});
ws.on('close', (code) => {
  result.closeCode = code;
  result.ok = result.echoed === messages.length;
  finish(result.ok ? null : 'closed early');
});
ws.on('error', (err) => finish(err.message));
