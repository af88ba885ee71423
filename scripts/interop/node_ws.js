#!/usr/bin/env node
// Node `ws` side of scripts/interop.sh (CommonJS: `ws` is found through
// NODE_PATH, which interop.sh points at its npm cache).
//
//   node node_ws.js client URL [--no-compression] [--expect-deflate 0|1] [--ca FILE]
//   node node_ws.js server [--params] [--tls-cert FILE --tls-key FILE]
//
// client  connects to URL (our echo_server or broadcast_server) offering
//         permessage-deflate (`perMessageDeflate: true`, or nothing with
//         --no-compression), sends text (ASCII, non-ASCII), binary, empty
//         messages of both kinds, a 64 KiB and a 1 MiB compressible message
//         and 300 small chat-like lines (32 at a time), and checks every echo byte for byte
//         and in order. With compression and --expect-deflate 1,
//         `ws.extensions` must name permessage-deflate; with
//         --no-compression it must be empty. One PASS/FAIL line per check;
//         exit 0 if all pass. With --ca (a wss:// URL) the server's
//         certificate must chain to the CA certificates of FILE, which
//         replace Node's roots (`{ ca }`; rejectUnauthorized stays true).
// server  an echo server on 127.0.0.1, port chosen by the OS, printed as
//         "listening PORT". `perMessageDeflate: true`, or with --params
//         `{ serverMaxWindowBits: 9, clientMaxWindowBits: 10,
//         serverNoContextTakeover: true, clientNoContextTakeover: true,
//         threshold: 0 }` (parameters in the answer, every message
//         compressed). With --tls-cert and --tls-key (PEM files: the chain
//         and its key) it serves wss:// (https.createServer + ws). Runs
//         until killed.
//
// Every wait is bounded (--timeout, default 60 s for the whole client run;
// 20 s for one echo).

'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocket, WebSocketServer } = require('ws');
const wsVersion = require('ws/package.json').version;

const MAX_PAYLOAD = 64 << 20;
const CHAT_LINES = 300;
// Lines sent before their echoes are read. The broadcast server queues at
// most 64 messages for a client (ServerConfig::queue_len) and closes with
// 1008 past that: a burst of 300 unread lines is a flood, not a chat.
const CHAT_WINDOW = 32;
const READ_TIMEOUT_MS = 20_000;

function compressibleText(length) {
  let text = '';
  for (let n = 0; text.length < length; n++) {
    text += `{"seq":${n},"user":"guest-${n % 7}","text":"the quick brown fox"}\n`;
  }
  return text.slice(0, length);
}

function compressibleBytes(length) {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (Math.floor(i / 64) % 251) ^ (i % 4);
  return out;
}

/** [name, message]: a string is a text message, a Buffer a binary one. */
function messages() {
  return [
    ['ASCII text', 'Hello, interop!'],
    ['non-ASCII text', 'Grüße, ¡hola!, привет, 你好, こんにちは, 🦀🔌 (κόσμε)'],
    ['binary 0..=255', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
    ['empty text', ''],
    ['empty binary', Buffer.alloc(0)],
    ['64 KiB compressible text', compressibleText(64 << 10)],
    ['1 MiB compressible binary', compressibleBytes(1 << 20)],
  ];
}

function chatLines() {
  const words = ['hi', 'how are you?', 'fine, thanks', 'see you', 'ok 👍', 'lol'];
  return Array.from({ length: CHAT_LINES }, (_, i) => `guest-${i % 5}: ${words[i % words.length]} #${i}`);
}

/** null when equal (same kind, same bytes), else why not. */
function compare(sent, got) {
  const sentKind = typeof sent === 'string' ? 'text' : 'binary';
  if (sentKind !== got.kind) return `sent ${sentKind}, got ${got.kind} back`;
  const a = typeof sent === 'string' ? Buffer.from(sent, 'utf8') : sent;
  const b = got.data;
  if (a.equals(b)) return null;
  let at = 0;
  while (at < a.length && at < b.length && a[at] === b[at]) at++;
  return `sent ${a.length} bytes, got ${b.length} back, first difference at byte ${at}`;
}

const checks = { passed: 0, failed: 0 };
function result(what, why) {
  if (why === null) {
    checks.passed++;
    console.log(`PASS ${what}`);
  } else {
    checks.failed++;
    console.log(`FAIL ${what}: ${why}`);
  }
}

/** The client's incoming messages as a queue one can await, with a bound. */
class Inbox {
  constructor(ws) {
    this.queue = [];
    this.waiter = null;
    this.ended = null;
    ws.on('message', (data, isBinary) => {
      this.push({ kind: isBinary ? 'binary' : 'text', data: Buffer.isBuffer(data) ? data : Buffer.concat(data) });
    });
    ws.on('close', (code, reason) => this.end(`the connection closed (${code} ${reason})`));
    ws.on('error', (err) => this.end(`error: ${err.message}`));
  }

  push(message) {
    if (this.waiter) {
      const { resolve, timer } = this.waiter;
      this.waiter = null;
      clearTimeout(timer);
      resolve(message);
    } else {
      this.queue.push(message);
    }
  }

  end(why) {
    if (this.ended === null) this.ended = why;
    if (this.waiter) {
      const { reject, timer } = this.waiter;
      this.waiter = null;
      clearTimeout(timer);
      reject(new Error(why));
    }
  }

  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.ended !== null) return Promise.reject(new Error(this.ended));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no echo within ${READ_TIMEOUT_MS} ms`));
      }, READ_TIMEOUT_MS);
      this.waiter = { resolve, reject, timer };
    });
  }
}

function send(ws, message) {
  return new Promise((resolve, reject) => {
    ws.send(message, { binary: typeof message !== 'string' }, (err) => (err ? reject(err) : resolve()));
  });
}

async function runClient(url, { compression, expectDeflate, ca }) {
  const options = {
    perMessageDeflate: compression,
    maxPayload: MAX_PAYLOAD,
    handshakeTimeout: 10_000,
  };
  if (ca !== null) {
    options.ca = fs.readFileSync(ca);
    options.rejectUnauthorized = true;
  }
  const ws = new WebSocket(url, options);
  const inbox = new Inbox(ws);
  let header = null;
  let tls = null;
  ws.once('upgrade', (res) => {
    header = res.headers['sec-websocket-extensions'] ?? null;
    const socket = res.socket;
    if (socket && socket.encrypted) {
      tls = { authorized: socket.authorized, error: socket.authorizationError, protocol: socket.getProtocol(), cipher: socket.getCipher().name };
    }
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  result(`connect ${url} (perMessageDeflate ${compression})`, null);
  if (ca !== null) {
    result(
      tls ? `TLS (${tls.protocol}, ${tls.cipher}), certificate checked against the CA` : 'TLS',
      tls === null ? 'the connection is not encrypted' : tls.authorized ? null : `not authorized: ${tls.error}`,
    );
  }
  console.log(`Sec-WebSocket-Extensions: ${header ?? '(none)'}`);
  console.log(`ws.extensions: ${JSON.stringify(ws.extensions)}`);
  if (!compression) {
    result(
      'no extension negotiated when none was offered',
      ws.extensions === '' && header === null ? null : `ws.extensions is ${JSON.stringify(ws.extensions)}, the header ${header}`,
    );
  } else if (expectDeflate) {
    result(
      'negotiated extension contains permessage-deflate',
      ws.extensions.includes('permessage-deflate') ? null : `ws.extensions is ${JSON.stringify(ws.extensions)}`,
    );
  }

  for (const [name, message] of messages()) {
    await send(ws, message);
    result(`echo ${name}`, compare(message, await inbox.next()));
  }

  const lines = chatLines();
  let why = null;
  for (let start = 0; start < lines.length && why === null; start += CHAT_WINDOW) {
    const window = lines.slice(start, start + CHAT_WINDOW);
    await Promise.all(window.map((line) => send(ws, line)));
    for (let i = 0; i < window.length; i++) {
      const w = compare(window[i], await inbox.next());
      if (w !== null) {
        why = `line ${start + i}: ${w}`;
        break;
      }
    }
  }
  result(`echo ${lines.length} chat lines, ${CHAT_WINDOW} at a time back to back`, why);

  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'done');
  const code = await closed;
  result('close handshake (1000)', code === 1000 ? null : `close code ${code}`);
}

function runServer(params, cert, key) {
  const perMessageDeflate = params
    ? {
      serverMaxWindowBits: 9,
      clientMaxWindowBits: 10,
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      threshold: 0,
    }
    : true;
  if ((cert === null) !== (key === null)) {
    console.error('node_ws.js server: --tls-cert and --tls-key go together');
    process.exit(2);
  }
  let wss;
  if (cert !== null) {
    const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
    wss = new WebSocketServer({ server, perMessageDeflate, maxPayload: MAX_PAYLOAD });
    server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
  } else {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: MAX_PAYLOAD });
    wss.on('listening', () => console.log(`listening ${wss.address().port}`));
  }
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
}

function main(argv) {
  const [mode, ...rest] = argv;
  const flag = (name) => rest.includes(name);
  const usage = 'usage: node_ws.js client URL [--no-compression] [--expect-deflate 0|1] [--ca FILE]'
    + ' | server [--params] [--tls-cert FILE --tls-key FILE]';
  // The value after `name`, or null without it.
  const value = (name) => {
    const i = rest.indexOf(name);
    if (i < 0) return null;
    if (i + 1 >= rest.length || rest[i + 1].startsWith('--')) {
      console.error(`${name} needs a value\n${usage}`);
      process.exit(2);
    }
    return rest[i + 1];
  };
  if (mode === 'server') {
    runServer(flag('--params'), value('--tls-cert'), value('--tls-key'));
    return;
  }
  if (mode !== 'client' || !rest[0] || rest[0].startsWith('--')) {
    console.error(usage);
    process.exit(2);
  }
  const url = rest[0];
  const at = rest.indexOf('--expect-deflate');
  const expectDeflate = at < 0 || rest[at + 1] !== '0';
  const timeoutIdx = rest.indexOf('--timeout');
  const timeoutMs = 1000 * (timeoutIdx < 0 ? 60 : Number(rest[timeoutIdx + 1]));
  console.log(`ws ${wsVersion} client -> ${url}`);
  const started = Date.now();
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  Promise.race([runClient(url, { compression: !flag('--no-compression'), expectDeflate, ca: value('--ca') }), deadline])
    .catch((err) => result('the run', err.message))
    .finally(() => {
      clearTimeout(timer);
      console.log(`node_ws client: ${checks.passed} passed, ${checks.failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      process.exit(checks.failed === 0 && checks.passed > 0 ? 0 : 1);
    });
}

main(process.argv.slice(2));
