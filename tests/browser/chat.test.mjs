// Real-browser end-to-end test of the chat example:
//   headless chromium (the page served by chat_server)  <-- WebSocket -->
//   chat_server  <-- WebSocket -->  chat_client (terminal client, piped stdin)
//
// Run:  node --test tests/browser/chat.test.mjs
// Env:  CHAT_SERVER_BIN, CHAT_CLIENT_BIN  (default ../../target/debug/…)
//       CHROMIUM_BIN (default /usr/bin/chromium), BROWSER_TEST_WAIT_MS (15000)
//       BROWSER_EXPECT_DEFLATE (default 1: the page's WebSocket.extensions
//       must name permessage-deflate; 0: only reported)
//       BROWSER_TEST_TLS (default 1: also the https/wss scenario; 0: skip it)
//       BROWSER_TLS_CERT, BROWSER_TLS_KEY, BROWSER_TLS_CA, BROWSER_TLS_SPKI: the
//       files of scripts/tls_pki.sh (default <repo>/target/browser-pki/server.pem,
//       server.key, ca.pem, server.spki)
//       BROWSER_TEST_VERBOSE=1 echoes the children's output (on stderr, which
//       `node --test` hides: run `node tests/browser/chat.test.mjs` to see it).
// Normally started through scripts/browser-test.sh, which installs/builds all.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BrowserUser, CLIENT_BIN, REPO_ROOT, SERVER_BIN, TerminalUser, WAIT_MS, launchBrowser, startServer, within,
} from './lib.mjs';

/** BROWSER_EXPECT_DEFLATE=0: the page need not negotiate permessage-deflate. */
const EXPECT_DEFLATE = (process.env.BROWSER_EXPECT_DEFLATE ?? '1') !== '0';

/** BROWSER_TEST_TLS=0 skips the https/wss scenario (which needs the test PKI). */
const TLS_ENABLED = (process.env.BROWSER_TEST_TLS ?? '1') !== '0';
const PKI_DIR = path.join(REPO_ROOT, 'target', 'browser-pki');
/** The throwaway PKI of scripts/tls_pki.sh (browser-test.sh makes it). */
const PKI = {
  cert: pkiPath('BROWSER_TLS_CERT', 'server.pem'),
  key: pkiPath('BROWSER_TLS_KEY', 'server.key'),
  ca: pkiPath('BROWSER_TLS_CA', 'ca.pem'),
  spki: pkiPath('BROWSER_TLS_SPKI', 'server.spki'),
};

function pkiPath(envName, file) {
  const fromEnv = process.env[envName];
  return fromEnv ? path.resolve(process.cwd(), fromEnv) : path.join(PKI_DIR, file);
}

/** Reads the PKI's files; throws a useful error when they are missing. */
function loadPki() {
  for (const [what, file] of Object.entries(PKI)) {
    if (!existsSync(file)) {
      throw new Error(`TLS ${what} ${file} is missing: run scripts/tls_pki.sh target/browser-pki `
        + '(browser-test.sh does), or set BROWSER_TEST_TLS=0');
    }
  }
  const spki = readFileSync(PKI.spki, 'utf8').trim();
  // base64 of a SHA-256 digest: 43 characters and one '='.
  assert.match(spki, /^[A-Za-z0-9+/]{43}=$/, `${PKI.spki} does not hold a base64 SHA-256 hash`);
  return { ...PKI, spki, caPem: readFileSync(PKI.ca, 'utf8') };
}

/** GET `url` with node:https, trusting only the CA `ca` (PEM); resolves { status, body }. */
function httpsGet(url, ca) {
  return within(new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: WAIT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer`)));
    req.on('error', reject);
  }), WAIT_MS, `GET ${url}`);
}

/**
 * The page's open WebSocket: asserts it exists, goes to `wsUrl` and reports
 * `extensions` (permessage-deflate unless BROWSER_EXPECT_DEFLATE=0).
 */
async function checkPageSocket(user, wsUrl) {
  const socket = await user.openSocket();
  assert.ok(socket, 'the page has no open WebSocket although its status reads "connected"');
  assert.equal(socket.url, wsUrl);
  assert.equal(typeof socket.extensions, 'string');
  console.log(`# page WebSocket (${socket.url}) extensions: ${JSON.stringify(socket.extensions)}`);
  if (EXPECT_DEFLATE) {
    assert.match(
      socket.extensions,
      /(^|,)\s*permessage-deflate(;|,|$)/,
      `WebSocket.extensions is ${JSON.stringify(socket.extensions)}; set BROWSER_EXPECT_DEFLATE=0 for a server without compression`,
    );
  }
  return socket;
}

/**
 * A browser user (alice, the page at server.httpUrl) and a terminal user
 * (bob) chat both ways. Once the page is connected, `checkPage(alice)`
 * (optional) runs, then `startBob()` makes bob's TerminalUser and
 * `joinBob(bob)` connects him and resolves with his guest name.
 * Quits bob and closes the page in the end.
 */
async function chatBothWays(browser, server, { startBob, joinBob, checkPage }) {
  let alice;
  let bob;
  try {
    // Browser joins first and is greeted.
    alice = await BrowserUser.open(browser, server.httpUrl);
    const aliceGuest = await alice.waitForWelcome();
    assert.match(aliceGuest, /^guest-\d+$/);
    await alice.waitForStatus(`connected as ${aliceGuest}`);
    if (checkPage) await checkPage(alice);

    // Terminal user joins; the browser sees the join notice.
    bob = startBob();
    const bobGuest = await joinBob(bob);
    assert.match(bobGuest, /^guest-\d+$/);
    assert.notEqual(bobGuest, aliceGuest);
    await alice.waitForMessage(`* ${bobGuest} joined`);

    // Both pick a nick; each rename is announced to the other user.
    await alice.say('/nick alice');
    await bob.waitForMessage(`* ${aliceGuest} is now alice`);
    await alice.waitForStatus('connected as alice');
    bob.say('/nick bob');
    await alice.waitForMessage(`* ${bobGuest} is now bob`);

    // Browser -> terminal.
    const fromBrowser = 'hi bob, this is chromium speaking';
    await alice.say(fromBrowser);
    assert.equal(await bob.waitForMessage(`alice: ${fromBrowser}`), `alice: ${fromBrowser}`);
    // The sender gets its own line back too ("broadcast to everyone").
    await alice.waitForMessage(`alice: ${fromBrowser}`);

    // Terminal -> browser.
    const fromTerminal = 'hello alice, greetings from the terminal';
    bob.say(fromTerminal);
    assert.equal(await alice.waitForMessage(`bob: ${fromTerminal}`), `bob: ${fromTerminal}`);
    await bob.waitForMessage(`bob: ${fromTerminal}`);
    // The page marks alice's own lines, and only those.
    assert.deepEqual(await alice.ownMessages(), [`alice: ${fromBrowser}`]);

    // The terminal user leaves with a close handshake; the page is told.
    bob.disconnect();
    await alice.waitForMessage('* bob left');

    // Every message the page shows is a well-formed chat line.
    const shown = await alice.messages();
    for (const m of shown) assert.match(m, /^(\* .+|[^\s:]+: .*)$/, `odd .msg text: ${JSON.stringify(m)}`);
    assert.deepEqual(alice.problems.filter((p) => !p.startsWith('websocket closed')), []);
  } catch (err) {
    // Put everything both sides saw into the failure report.
    const pageSide = alice ? await alice.transcript() : '--- page: not opened';
    const termSide = bob ? bob.proc.transcript() : '--- chat_client: not started';
    err.message += `\n${pageSide}\n${termSide}\n${server.transcript()}`;
    throw err;
  } finally {
    await bob?.quit();
    await alice?.close();
  }
}

describe('chat example in a real browser', { timeout: 120_000 }, () => {
  let server;
  let browser;
  let setupError;

  // A failing before() hook would only mark the tests "cancelled"; keep the
  // error and fail each test with it, so the summary counts real failures.
  before(async () => {
    try {
      server = await startServer(SERVER_BIN);
      browser = await launchBrowser();
    } catch (err) {
      setupError = err;
    }
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  test('GET /health answers "ok" over plain HTTP', async () => {
    if (setupError) throw setupError;
    const res = await fetch(`${server.httpUrl}health`, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim(), 'ok');
  });

  test('browser user (alice) and terminal user (bob) chat with each other', async () => {
    if (setupError) throw setupError;
    await chatBothWays(browser, server, {
      startBob: () => new TerminalUser(CLIENT_BIN),
      joinBob: (bob) => bob.connect(server.wsUrl),
    });
  });
  test('rooms: a page user joins a room, lines stay in it, the lists follow', async () => {
    if (setupError) throw setupError;
    let dora;
    const bob = new TerminalUser(CLIENT_BIN);
    try {
      dora = await BrowserUser.open(browser, server.httpUrl);
      const doraGuest = await dora.waitForWelcome();
      await dora.say('/nick dora');
      await dora.waitForStatus('connected as dora');
      const bobGuest = await bob.connect(server.wsUrl);
      await dora.waitForMessage(`* ${bobGuest} joined`);
      bob.say('/nick bob');
      await dora.waitForMessage(`* ${bobGuest} is now bob`);
      assert.notEqual(doraGuest, bobGuest);
      await dora.waitForList('#people', ['bob', 'dora']);
      await dora.waitForList('#rooms', ['#lobby 2']);

      // dora makes #rust from the page; the lists and the header follow.
      await dora.say('/join rust');
      await dora.waitForMessage('* you are now in #rust (1 here)');
      await bob.waitForMessage('* dora left for #rust');
      await dora.waitForList('#people', ['dora']);
      await dora.waitForList('#rooms', ['#lobby 1', '#rust 1']);
      assert.equal(await dora.page.textContent('#room'), '#rust');

      // A line in #rust does not reach bob in the lobby: once bob has his
      // own later line back, dora's would have come before it.
      await dora.say('only for rust');
      await dora.waitForMessage('dora: only for rust');
      // Lines carry the page's local time; history lines are marked instead.
      const stamp = await dora.page.$eval('#log .msg:last-child', (e) => e.dataset.time);
      assert.match(stamp, /\d{1,2}.\d{2}/);
      bob.say('only for the lobby');
      await bob.waitForMessage('bob: only for the lobby');
      assert.ok(!bob.messages().includes('dora: only for rust'), bob.messages().join('\n'));
      assert.ok(!(await dora.messages()).includes('bob: only for the lobby'));

      // bob comes over: dora hears it and sees him in the list.
      bob.say('/join rust');
      await bob.waitForMessage('* you are now in #rust (2 here)');
      await dora.waitForMessage('* bob joined');
      await dora.waitForList('#people', ['bob', 'dora']);
      bob.say('/leave');
      await dora.waitForMessage('* bob left for #lobby');
      await dora.waitForList('#people', ['dora']);

      // A click on #lobby goes back, with the lobby's history shown as such.
      await dora.page.click('#rooms li:has-text("#lobby")');
      await dora.waitForMessage('* you are now in #lobby (2 here)');
      // (The lobby had history before: the first test talked there.)
      await dora.page.waitForFunction(
        () => [...document.querySelectorAll('#log .msg.mark')].filter((e) => e.textContent === '--- end of history ---').length === 2,
      );
      const history = await dora.historyMessages();
      assert.equal(history.at(-1), 'bob: only for the lobby');
      assert.ok(!history.includes('dora: only for rust'));
      await dora.waitForList('#rooms', ['#lobby 2']);
      assert.deepEqual(dora.problems.filter((p) => !p.startsWith('websocket closed')), []);
    } catch (err) {
      const pageSide = dora ? await dora.transcript() : '--- page: not opened';
      err.message += `\n${pageSide}\n${bob.proc.transcript()}\n${server.transcript()}`;
      throw err;
    } finally {
      await bob.quit();
      await dora?.close();
    }
  });

  test('the page reconnects by itself after a server restart', async () => {
    if (setupError) throw setupError;
    let own = await startServer(SERVER_BIN);
    let frank;
    try {
      frank = await BrowserUser.open(browser, own.httpUrl);
      await frank.waitForWelcome();
      await frank.say('/nick frank');
      await frank.waitForStatus('connected as frank');
      await frank.say('/join den');
      await frank.waitForMessage('* you are now in #den (1 here)');

      // The server goes away: the page says so, and keeps trying.
      const port = own.port;
      await own.stop();
      await frank.waitForStatusMatching(/reconnect/);
      await frank.waitForMessage(/^disconnected \(.+\); reconnecting…$/);
      assert.equal(await frank.page.isDisabled('#send'), true);

      // Back on the same port: the page reconnects, takes its name and room
      // back, and says it did.
      own = await startServer(SERVER_BIN, { port });
      await frank.waitForMessage('reconnected');
      await frank.waitForStatus('connected as frank');
      await frank.waitForList('#people', ['frank']);
      await frank.waitForList('#rooms', ['#den 1', '#lobby 0']);
      assert.equal(await frank.page.textContent('#room'), '#den');
      await frank.say('still here');
      await frank.waitForMessage('frank: still here');
      assert.deepEqual(frank.problems.filter((p) => p.startsWith('pageerror')), []);
    } catch (err) {
      const pageSide = frank ? await frank.transcript() : '--- page: not opened';
      err.message += `\n${pageSide}\n${own.transcript()}`;
      throw err;
    } finally {
      await frank?.close();
      await own.stop();
    }
  });

  // The browser offers permessage-deflate on its own; the server must take
  // it. BROWSER_EXPECT_DEFLATE=0 only reports what was negotiated (for a
  // server built without compression).
  const deflateTitle = EXPECT_DEFLATE
    ? 'the page\'s WebSocket negotiated permessage-deflate'
    : 'the page\'s WebSocket.extensions is reported (BROWSER_EXPECT_DEFLATE=0: permessage-deflate not required)';
  test(deflateTitle, async () => {
    if (setupError) throw setupError;
    // Its own server: the lobby's history stays as the other tests expect.
    const own = await startServer(SERVER_BIN);
    let carol;
    try {
      carol = await BrowserUser.open(browser, own.httpUrl);
      await carol.waitForWelcome();
      const socket = await carol.openSocket();
      assert.ok(socket, 'the page has no open WebSocket although its status reads "connected"');
      assert.equal(socket.url, own.wsUrl);
      assert.equal(typeof socket.extensions, 'string');
      console.log(`# page WebSocket.extensions: ${JSON.stringify(socket.extensions)}`);
      if (EXPECT_DEFLATE) {
        assert.match(
          socket.extensions,
          /(^|,)\s*permessage-deflate(;|,|$)/,
          `WebSocket.extensions is ${JSON.stringify(socket.extensions)}; set BROWSER_EXPECT_DEFLATE=0 for a server without compression`,
        );
      }
      // A message still goes both ways over whatever was negotiated.
      await carol.say('/nick carol');
      await carol.waitForStatus('connected as carol');
      const line = 'squeeze me '.repeat(40).trim();
      await carol.say(line);
      await carol.waitForMessage(`carol: ${line}`);
      assert.deepEqual(carol.problems.filter((p) => !p.startsWith('websocket closed')), []);
    } catch (err) {
      const pageSide = carol ? await carol.transcript() : '--- page: not opened';
      err.message += `\n${pageSide}\n${own.transcript()}`;
      throw err;
    } finally {
      await carol?.close();
      await own.stop();
    }
  });
});

// The same chat over TLS: the page from https://127.0.0.1:PORT/, its
// WebSocket to wss://, the terminal client to wss://localhost:PORT/ with
// `--ca ca.pem`. Chromium trusts the test server's key through
// --ignore-certificate-errors-spki-list (that key only: nothing else of the
// certificate checks is switched off).
describe('chat example over https/wss in a real browser', { timeout: 120_000, skip: !TLS_ENABLED && 'BROWSER_TEST_TLS=0' }, () => {
  let pki;
  let server;
  let browser;
  let setupError;

  before(async () => {
    try {
      pki = loadPki();
      server = await startServer(SERVER_BIN, { tls: { cert: pki.cert, key: pki.key } });
      browser = await launchBrowser({ trustSpki: [pki.spki] });
    } catch (err) {
      setupError = err;
    }
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  test('GET /health answers "ok" over https, the certificate checked against the test CA', async () => {
    if (setupError) throw setupError;
    assert.match(server.httpUrl, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    for (const host of ['127.0.0.1', 'localhost']) {
      const res = await httpsGet(`https://${host}:${server.port}/health`, pki.caPem);
      assert.equal(res.status, 200);
      assert.equal(res.body.trim(), 'ok');
    }
  });

  test('browser user (alice, https page, wss socket) and terminal user (bob, wss) chat with each other', async () => {
    if (setupError) throw setupError;
    await chatBothWays(browser, server, {
      // Connects at start (--connect), checking the certificate with the CA.
      startBob: () => new TerminalUser(CLIENT_BIN, ['--connect', `wss://localhost:${server.port}/`, '--ca', pki.ca]),
      joinBob: (bob) => bob.waitForWelcome(),
      checkPage: async (alice) => {
        assert.equal(new URL(alice.page.url()).protocol, 'https:');
        const socket = await checkPageSocket(alice, server.wsUrl);
        assert.match(socket.url, /^wss:\/\//);
      },
    });
  });

  test('without the SPKI flag chromium refuses the page: the certificate is really checked', async () => {
    if (setupError) throw setupError;
    const strict = await launchBrowser();
    try {
      const context = await strict.newContext();
      const page = await context.newPage();
      await assert.rejects(
        page.goto(server.httpUrl, { timeout: WAIT_MS }),
        /ERR_CERT_AUTHORITY_INVALID/,
      );
    } finally {
      await strict.close().catch(() => {});
    }
  });
});
