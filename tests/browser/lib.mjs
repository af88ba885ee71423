// Shared helpers for the real-browser tests (chat.test.mjs) and the README
// banner generator (banner.mjs): start the chat server and the terminal chat
// client as child processes, read their stdout line by line, drive the chat
// page in Debian's headless chromium through playwright-core.
//
// Rules kept here on purpose:
//  * every wait is bounded (WAIT_MS, 15 s by default) and fails with a message
//    that says what it waited for and what it saw instead;
//  * nothing is synchronised with a sleep: we wait for stdout lines, DOM text
//    or a TCP listener;
//  * every child process is registered and killed at the end, also when a test
//    fails or the node process exits early.

import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');

/** Upper bound of every single wait (process start, a line, a DOM message). */
export const WAIT_MS = Number(process.env.BROWSER_TEST_WAIT_MS || 15_000);

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/**
 * Path of a built binary: from env var `envName` (relative paths are taken
 * from the current directory), else `defaultRel` relative to this directory.
 */
export function binPath(envName, defaultRel) {
  const fromEnv = process.env[envName];
  return fromEnv ? path.resolve(process.cwd(), fromEnv) : path.resolve(HERE, defaultRel);
}

export const SERVER_BIN = binPath('CHAT_SERVER_BIN', '../../target/debug/chat_server');
export const CLIENT_BIN = binPath('CHAT_CLIENT_BIN', '../../target/debug/chat_client');

// ---------------------------------------------------------------- processes

const live = new Set();
process.on('exit', () => {
  // Last resort (uncaught error, runner timeout): never leave children behind.
  for (const proc of live) {
    try { proc.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

/** Bound a promise: reject with `what` after `ms` milliseconds. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A child process whose stdout is kept as a list of lines one can wait on. */
export class Proc {
  constructor(name, bin, args, { stdin = 'ignore', env = {} } = {}) {
    this.name = name;
    this.bin = bin;
    this.args = args;
    this.lines = [];
    this.stderr = '';
    this.exit = null; // { code, signal } or { error }
    this.waiters = new Set();
    this.child = spawn(bin, args, {
      stdio: [stdin, 'pipe', 'pipe'],
      env: { ...process.env, RUST_BACKTRACE: '1', NO_COLOR: '1', TERM: 'dumb', ...env },
    });
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (error) => {
        this.exit = { error };
        this.#settle();
        resolve(this.exit);
      });
      this.child.on('close', (code, signal) => {
        if (!this.exit) this.exit = { code, signal };
        this.#settle();
        resolve(this.exit);
      });
    });
    if (this.child.stdin) this.child.stdin.on('error', () => { /* EPIPE after exit */ });
    readline.createInterface({ input: this.child.stdout, crlfDelay: Infinity }).on('line', (raw) => {
      const line = raw.replace(ANSI, '').replace(/\r/g, '').trimEnd();
      this.lines.push(line);
      if (process.env.BROWSER_TEST_VERBOSE) process.stderr.write(`[${this.name}] ${line}\n`);
      this.#check();
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => {
      if (this.stderr.length < 64_000) this.stderr += chunk;
      if (process.env.BROWSER_TEST_VERBOSE) process.stderr.write(`[${this.name} stderr] ${chunk}`);
    });
  }

  get running() {
    return this.exit === null;
  }

  describeExit() {
    if (!this.exit) return 'still running';
    if (this.exit.error) return `failed to start: ${this.exit.error.message}`;
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }

  #check() {
    for (const w of this.waiters) {
      const hit = this.lines.find(w.pred);
      if (hit !== undefined) {
        this.waiters.delete(w);
        w.resolve(hit);
      }
    }
  }

  #settle() {
    live.delete(this);
    this.#check();
    for (const w of this.waiters) {
      this.waiters.delete(w);
      w.reject(new Error(`${this.name} ${this.describeExit()} while waiting for it to print ${w.what}`));
    }
  }

  /** Resolves with the first stdout line (seen so far or later) matching `pred`. */
  waitForLine(pred, what, ms = WAIT_MS) {
    const hit = this.lines.find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    if (!this.running) {
      return Promise.reject(new Error(`${this.name} ${this.describeExit()}; never printed ${what}`));
    }
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { pred, what, resolve, reject };
      this.waiters.add(waiter);
    });
    // (Callers add this.transcript() to the failure report.)
    return within(p, ms, `${this.name} to print ${what}`).catch((err) => {
      this.waiters.delete(waiter);
      throw err;
    });
  }

  /** Writes one line on the child's stdin. */
  send(line) {
    if (!this.child.stdin || this.child.stdin.destroyed) {
      throw new Error(`${this.name}: stdin is closed (${this.describeExit()})`);
    }
    this.child.stdin.write(`${line}\n`);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Never throws. */
  async stop(graceMs = 3_000) {
    if (this.running) {
      try { this.child.kill('SIGTERM'); } catch { /* gone */ }
      let timer;
      await Promise.race([
        this.exited,
        new Promise((resolve) => { timer = setTimeout(resolve, graceMs); }),
      ]);
      clearTimeout(timer);
      if (this.running) {
        try { this.child.kill('SIGKILL'); } catch { /* gone */ }
        await within(this.exited, graceMs, `${this.name} to die after SIGKILL`).catch(() => {});
      }
    }
    live.delete(this);
  }

  transcript() {
    const out = this.lines.slice(-40).map((l) => `  | ${l}`).join('\n') || '  | (nothing)';
    const err = this.stderr.trim().split('\n').filter(Boolean).slice(-20).map((l) => `  ! ${l}`).join('\n');
    return `--- ${this.name} stdout (${this.describeExit()}):\n${out}${err ? `\n--- ${this.name} stderr:\n${err}` : ''}`;
  }
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => { sock.destroy(); resolve(false); });
  });
}

/**
 * Starts `chat_server --addr 127.0.0.1:0` (the OS picks a free port, so no
 * race with other processes; `{ port }` asks for that port instead, to
 * restart a server where it was) and resolves once it has printed the URL of its
 * page, `http://127.0.0.1:PORT/`, and accepts TCP connections on PORT.
 * `{ tls: { cert, key } }` adds `--tls-cert CERT --tls-key KEY`: the page is
 * then served over https and the chat over wss (`httpUrl`/`wsUrl` say so).
 * Rejects if it exits first or WAIT_MS passes.
 */
export async function startServer(bin = SERVER_BIN, { port: wanted = 0, tls = null } = {}) {
  const args = ['--addr', `127.0.0.1:${wanted}`];
  if (tls) args.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  const proc = new Proc('chat_server', bin, args);
  const [http, ws] = tls ? ['https', 'wss'] : ['http', 'ws'];
  const url = new RegExp(`${http}://127\\.0\\.0\\.1:(\\d+)/`);
  let port;
  try {
    const line = await proc.waitForLine((l) => url.test(l), `the URL of its page (${http}://127.0.0.1:PORT/)`);
    port = Number(line.match(url)[1]);
    if (!(port > 0) || !(await tryConnect(port))) {
      throw new Error(`chat_server printed ${JSON.stringify(line)} but 127.0.0.1:${port} refuses connections`);
    }
  } catch (err) {
    await proc.stop();
    err.message += `\n${proc.transcript()}`;
    throw err;
  }
  proc.port = port;
  proc.httpUrl = `${http}://127.0.0.1:${port}/`;
  proc.wsUrl = `${ws}://127.0.0.1:${port}/`;
  return proc;
}

// ------------------------------------------------------------ terminal client

const RCV = 'rcv=> ';

/** The terminal chat client, fed through a pipe (non-interactive mode). */
export class TerminalUser {
  /** `args`: extra command-line arguments, e.g. `['--ca', 'ca.pem']`. */
  constructor(bin = CLIENT_BIN, args = []) {
    this.proc = new Proc('chat_client', bin, args, { stdin: 'pipe' });
    this.name = null;
  }

  /** Every message received so far (the text after `rcv=> `). */
  messages() {
    return this.proc.lines.filter((l) => l.includes(RCV)).map((l) => l.slice(l.indexOf(RCV) + RCV.length));
  }

  /** Waits for a received message equal to `text` (string) or matching it (RegExp). */
  async waitForMessage(matcher) {
    const test = typeof matcher === 'string' ? (m) => m === matcher : (m) => matcher.test(m);
    const line = await this.proc.waitForLine(
      (l) => l.includes(RCV) && test(l.slice(l.indexOf(RCV) + RCV.length)),
      `"${RCV}${matcher}"`,
    );
    return line.slice(line.indexOf(RCV) + RCV.length);
  }

  /** `connect URL`, then waits for the welcome line; returns the guest name. */
  async connect(wsUrl) {
    this.proc.send(`connect ${wsUrl}`);
    return this.waitForWelcome();
  }

  /**
   * Waits for the server's welcome line (after `connect`, or when started
   * with `--connect URL`); returns the guest name it greets.
   */
  async waitForWelcome() {
    const welcome = await this.waitForMessage(/^\* welcome, (\S+)! type \/help for commands$/);
    this.name = welcome.match(/^\* welcome, (\S+)!/)[1];
    return this.name;
  }

  say(text) {
    this.proc.send(text);
  }

  /** `__disconnect`: closes the WebSocket (close handshake), keeps the process. */
  disconnect() {
    this.proc.send('__disconnect');
    this.disconnected = true;
  }

  /** `__disconnect` (unless done) + `exit`, then makes sure the process is gone. */
  async quit() {
    if (this.proc.running) {
      try {
        if (!this.disconnected) this.disconnect();
        this.proc.send('exit');
        this.proc.child.stdin.end();
      } catch { /* already closed */ }
      await within(this.proc.exited, 5_000, 'chat_client to exit').catch(() => {});
    }
    await this.proc.stop();
  }
}

// ------------------------------------------------------------------- browser

/**
 * Headless chromium. `{ trustSpki }`: base64 SHA-256 hashes of public keys
 * (SPKI) whose certificates chromium accepts although no root it knows signed
 * them (`--ignore-certificate-errors-spki-list`): the test server's key, and
 * only that key; no blanket ignoring of certificate errors.
 */
export function launchBrowser({ trustSpki = [] } = {}) {
  const args = [...CHROMIUM_ARGS];
  if (trustSpki.length) args.push(`--ignore-certificate-errors-spki-list=${trustSpki.join(',')}`);
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    args,
    timeout: 30_000,
  });
}

/**
 * Runs in the page before its own scripts: every WebSocket the page makes is
 * also kept in `window.__testSockets`, so that a test can read what the
 * browser negotiated (`extensions`, `protocol`). The constructor stays the
 * native one behind a Proxy (`WebSocket.OPEN`, `instanceof` unchanged).
 */
function recordSockets() {
  const Native = window.WebSocket;
  const sockets = [];
  Object.defineProperty(window, '__testSockets', { value: sockets });
  window.WebSocket = new Proxy(Native, {
    construct(target, args, newTarget) {
      const ws = Reflect.construct(target, args, newTarget);
      sockets.push(ws);
      return ws;
    },
  });
}

/** One chat page in its own browser context. */
export class BrowserUser {
  static async open(browser, url, { viewport = { width: 1200, height: 700 }, deviceScaleFactor = 1 } = {}) {
    const context = await browser.newContext({ viewport, deviceScaleFactor });
    await context.addInitScript(recordSockets);
    const page = await context.newPage();
    const user = new BrowserUser(context, page);
    page.setDefaultTimeout(WAIT_MS);
    page.on('console', (m) => {
      // "Failed to load resource" has no URL; the 'response' listener reports those.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        user.problems.push(`console.error: ${m.text()}`);
      }
    });
    page.on('response', (r) => {
      // Chromium asks for /favicon.ico on its own; the page does not link one.
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') {
        user.problems.push(`HTTP ${r.status()} for ${r.url()}`);
      }
    });
    page.on('pageerror', (e) => user.problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => user.problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('websocket', (ws) => {
      ws.on('close', () => user.problems.push(`websocket closed: ${ws.url()}`));
      ws.on('socketerror', (e) => user.problems.push(`websocket error: ${ws.url()} ${e}`));
    });
    const res = await page.goto(url, { waitUntil: 'load', timeout: WAIT_MS });
    if (!res || !res.ok()) throw new Error(`GET ${url} -> ${res ? res.status() : 'no response'}`);
    await user.#waitFor(
      () => document.querySelector('#status')?.textContent.trim().startsWith('connected'),
      undefined,
      '#status to read "connected"',
    );
    return user;
  }

  constructor(context, page) {
    this.context = context;
    this.page = page;
    this.problems = [];
    this.name = null;
  }

  async #waitFor(fn, arg, what) {
    try {
      await this.page.waitForFunction(fn, arg, { timeout: WAIT_MS });
    } catch (err) {
      const why = err.name === 'TimeoutError' ? `timed out after ${WAIT_MS} ms` : `failed (${err.message.split('\n')[0]})`;
      throw new Error(`page: ${why} waiting for ${what}\n${await this.transcript()}`);
    }
  }

  /**
   * What the page's newest open WebSocket negotiated: `{ url, extensions,
   * protocol }`, or null when no socket of the page is open.
   */
  openSocket() {
    return this.page.evaluate(() => {
      const open = (window.__testSockets || []).filter((ws) => ws.readyState === WebSocket.OPEN);
      const ws = open.at(-1);
      return ws ? { url: ws.url, extensions: ws.extensions, protocol: ws.protocol } : null;
    });
  }

  /** textContent of every `#log .msg`, in order. */
  messages() {
    return this.page.$$eval('#log .msg', (els) => els.map((e) => e.textContent));
  }

  /** Waits for a `.msg` whose textContent equals `text` / matches the RegExp; returns it. */
  async waitForMessage(matcher) {
    const arg = typeof matcher === 'string'
      ? { exact: matcher }
      : { source: matcher.source, flags: matcher.flags };
    await this.#waitFor((m) => {
      const re = m.exact === undefined ? new RegExp(m.source, m.flags) : null;
      return [...document.querySelectorAll('#log .msg')]
        .some((e) => (re ? re.test(e.textContent) : e.textContent === m.exact));
    }, arg, `a .msg ${typeof matcher === 'string' ? `"${matcher}"` : matcher}`);
    const all = await this.messages();
    return all.find((t) => (typeof matcher === 'string' ? t === matcher : matcher.test(t)));
  }

  /** Waits for the welcome line; returns the guest name it greets. */
  async waitForWelcome() {
    const welcome = await this.waitForMessage(/^\* welcome, (\S+)! type \/help for commands$/);
    this.name = welcome.match(/^\* welcome, (\S+)!/)[1];
    return this.name;
  }

  /** Waits until #status reads exactly `text`. */
  async waitForStatus(text) {
    await this.#waitFor(
      (t) => document.querySelector('#status')?.textContent.trim() === t,
      text,
      `#status to read "${text}"`,
    );
  }

  /** Waits until #status matches the RegExp `re`. */
  async waitForStatusMatching(re) {
    await this.#waitFor(
      (m) => new RegExp(m.source, m.flags).test(document.querySelector('#status')?.textContent.trim() ?? ''),
      { source: re.source, flags: re.flags },
      `#status to match ${re}`,
    );
  }

  /** The texts of the `li` of the list `selector`, each its spans joined by a space. */
  listItems(selector) {
    return this.page.$$eval(`${selector} li`, (lis) => lis.map(
      (li) => [...li.children].map((c) => c.textContent).join(' '),
    ));
  }

  /** Waits until `listItems(selector)` equals `items`. */
  async waitForList(selector, items) {
    await this.#waitFor(
      ({ selector: sel, items: want }) => {
        const got = [...document.querySelectorAll(`${sel} li`)]
          .map((li) => [...li.children].map((c) => c.textContent).join(' '));
        return JSON.stringify(got) === JSON.stringify(want);
      },
      { selector, items },
      `${selector} to list ${JSON.stringify(items)}`,
    );
  }

  /** The texts of the .msg lines the page shows as history. */
  historyMessages() {
    return this.page.$$eval('#log .msg.history', (lines) => lines.map((l) => l.textContent));
  }

  /** The texts of the .msg lines the page marks as our own. */
  async ownMessages() {
    return this.page.$$eval('#log .msg.mine', (lines) => lines.map((l) => l.textContent));
  }

  /** Types `text` into #input and clicks #send, like a person would. */
  async say(text) {
    await this.page.fill('#input', text);
    await this.page.click('#send');
  }

  async transcript() {
    let msgs;
    try { msgs = await this.messages(); } catch (e) { msgs = [`(could not read #log: ${e.message})`]; }
    let status = '?';
    try { status = await this.page.textContent('#status', { timeout: 1_000 }); } catch { /* ignore */ }
    return [
      `--- page ${this.page.url()} #status="${status}" #log:`,
      ...(msgs.length ? msgs.map((m) => `  | ${m}`) : ['  | (empty)']),
      ...this.problems.map((p) => `  ! ${p}`),
    ].join('\n');
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}
