// Makes the README banner (banner.png at the repo root): a real screenshot of
// the chat page in headless chromium while a browser user (alice) talks with a
// terminal user (bob, the real chat_client binary) through the real chat_server.
//
//   cargo build -p chat_server -p chat_client
//   node tests/browser/banner.mjs [OUT.png]      # default: <repo>/banner.png
//
// Same env as the test: CHAT_SERVER_BIN, CHAT_CLIENT_BIN, CHROMIUM_BIN.
// (cd tests/browser && npm ci) must have been run once.

import path from 'node:path';
import {
  BrowserUser, CLIENT_BIN, REPO_ROOT, SERVER_BIN, TerminalUser, launchBrowser, startServer,
} from './lib.mjs';

const OUT = path.resolve(process.cwd(), process.argv[2] || path.join(REPO_ROOT, 'banner.png'));
const VIEWPORT = { width: 1200, height: 700 };

// Who says what, in order. Each line is waited for on the page before the next.
const CONVERSATION = [
  ['alice', "hi bob! I'm in Chromium, where are you?"],
  ['bob', 'hey alice! in a terminal, talking to the same server'],
  ['alice', 'nice, my messages pop up in your terminal right away'],
  ['bob', 'and mine land in your browser. ship it?'],
];
// Left typed (not sent) in the input box: alice is writing her answer.
const DRAFT = "yes, let's ship it";

let server;
let browser;
let alice;
let bob;
try {
  server = await startServer(SERVER_BIN);
  browser = await launchBrowser();

  alice = await BrowserUser.open(browser, server.httpUrl, { viewport: VIEWPORT, deviceScaleFactor: 1 });
  const aliceGuest = await alice.waitForWelcome();
  await alice.say('/nick alice');
  await alice.waitForMessage(`* ${aliceGuest} is now alice`);

  bob = new TerminalUser(CLIENT_BIN);
  const bobGuest = await bob.connect(server.wsUrl);
  await alice.waitForMessage(`* ${bobGuest} joined`);
  bob.say('/nick bob');
  await alice.waitForMessage(`* ${bobGuest} is now bob`);

  for (const [who, text] of CONVERSATION) {
    if (who === 'alice') await alice.say(text);
    else bob.say(text);
    await alice.waitForMessage(`${who}: ${text}`);
    await bob.waitForMessage(`${who}: ${text}`);
  }

  // The side lists are filled from the page's own /list and /rooms.
  await alice.waitForList('#people', ['alice', 'bob']);
  await alice.waitForList('#rooms', ['#lobby 2']);
  await alice.page.fill('#input', DRAFT);
  await alice.page.evaluate(() => document.fonts.ready);
  await alice.page.screenshot({ path: OUT, type: 'png', fullPage: false });

  console.log(`wrote ${OUT} (${VIEWPORT.width}x${VIEWPORT.height})`);
  console.log('page log:');
  for (const m of await alice.messages()) console.log(`  ${m}`);
  console.log('terminal client saw:');
  for (const m of bob.messages()) console.log(`  rcv=> ${m}`);
} catch (err) {
  const pageSide = alice ? await alice.transcript() : '';
  console.error(`banner failed: ${err.message}\n${pageSide}\n${bob ? bob.proc.transcript() : ''}\n${server ? server.transcript() : ''}`);
  process.exitCode = 1;
} finally {
  await bob?.quit();
  await alice?.close();
  await browser?.close().catch(() => {});
  await server?.stop();
}
