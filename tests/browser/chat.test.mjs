// Real-browser end-to-end test of the chat example:
//   headless chromium (the page served by chat_server)  <-- WebSocket -->
//   chat_server  <-- WebSocket -->  chat_client (terminal client, piped stdin)
//
// Run:  node --test tests/browser/chat.test.mjs
// Env:  CHAT_SERVER_BIN, CHAT_CLIENT_BIN  (default ../../target/debug/…)
//       CHROMIUM_BIN (default /usr/bin/chromium), BROWSER_TEST_WAIT_MS (15000)
//       BROWSER_TEST_VERBOSE=1 echoes the children's output (on stderr, which
//       `node --test` hides: run `node tests/browser/chat.test.mjs` to see it).
// Normally started through scripts/browser-test.sh, which installs/builds all.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BrowserUser, CLIENT_BIN, SERVER_BIN, TerminalUser, WAIT_MS, launchBrowser, startServer,
} from './lib.mjs';

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
    let alice;
    const bob = new TerminalUser(CLIENT_BIN);
    try {
      // Browser joins first and is greeted.
      alice = await BrowserUser.open(browser, server.httpUrl);
      const aliceGuest = await alice.waitForWelcome();
      assert.match(aliceGuest, /^guest-\d+$/);
      await alice.waitForStatus(`connected as ${aliceGuest}`);

      // Terminal user joins; the browser sees the join notice.
      const bobGuest = await bob.connect(server.wsUrl);
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
      err.message += `\n${pageSide}\n${bob.proc.transcript()}\n${server.transcript()}`;
      throw err;
    } finally {
      await bob.quit();
      await alice?.close();
    }
  });
});
