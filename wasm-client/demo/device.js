// One demo "device": a SyncClient with its own IndexedDB, a deck editor, a
// review button per card and the sync status. Exposes `window.demo` for
// the browser test.
import { SyncClient } from '/pkg/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const name = params.get('name') ?? 'device';
const config = await (await fetch('/config.json')).json();
const server = params.get('server') ?? config.server;
$('device-name').textContent = name;

const log = (msg) => {
  const line = `${new Date().toISOString().slice(11, 23)} ${msg}\n`;
  $('log').textContent = (line + $('log').textContent).slice(0, 4000);
};

const client = await SyncClient.open({ server, storage: `mfp-demo-${name}`, deviceName: name });
let selected = null;
let editing = false;

/** Cards of the markdown, as a simple `front :: back` reader sees them. */
function cardsOf(markdown) {
  return markdown.split('\n')
    .map((l) => l.split(' :: '))
    .filter((p) => p.length === 2 && p[0].trim())
    .map(([front, back]) => ({ id: `card-${slug(front)}`, front: front.trim(), back: back.trim() }));
}
const slug = (s) => s.trim().toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

function render() {
  const loggedIn = client.user !== null;
  $('user').textContent = loggedIn ? client.user.email : '';
  for (const id of ['logout', 'new-deck', 'toggle-online']) $(id).disabled = !loggedIn;
  $('pending').textContent = String(client.pendingChanges);
  if (!loggedIn) return;
  const decks = client.decks();
  const ids = Object.keys(decks).sort();
  if (!selected || !decks[selected]) selected = ids[0] ?? null;
  const sel = $('deck-select');
  sel.replaceChildren(...ids.map((id) => {
    const o = document.createElement('option');
    o.value = id;
    o.textContent = `${decks[id].emoji ?? ''} ${decks[id].name}`;
    o.selected = id === selected;
    return o;
  }));
  const deck = selected ? decks[selected] : null;
  $('markdown').disabled = !deck;
  $('save').disabled = !deck;
  if (deck && !editing) $('markdown').value = deck.markdown ?? '';
  const progress = client.progress();
  $('cards').replaceChildren(...(deck ? cardsOf(deck.markdown ?? '') : []).map((c) => {
    const li = document.createElement('li');
    const p = progress[c.id]?.stats;
    li.dataset.card = c.id;
    li.innerHTML = '<span class="q"></span> <button>✓ Review</button> <span class="views"></span>';
    li.querySelector('.q').textContent = `${c.front} → ${c.back}`;
    li.querySelector('.views').textContent = `views ${p?.views ?? 0}, correct ${p?.correctCount ?? 0}`;
    li.querySelector('button').onclick = () => act(() => {
      client.recordReview({ deckId: deck.id, cardId: c.id, correct: true, responseMs: 1500 });
      log(`reviewed ${c.front}`);
    });
    return li;
  }));
  renderHistory(deck);
}

/** What a history entry did, in a few words. */
function describe(s) {
  const parts = [];
  for (const flag of ['created', 'deleted', 'undeleted', 'restored']) if (s[flag]) parts.push(flag);
  if (s.chars_inserted) parts.push(`+${s.chars_inserted} characters`);
  if (s.chars_deleted) parts.push(`−${s.chars_deleted} characters`);
  if (s.fields_changed.length && !s.created) parts.push(`changed ${s.fields_changed.join(', ')}`);
  if (s.reviews_recorded) parts.push(`${s.reviews_recorded} review${s.reviews_recorded > 1 ? 's' : ''}`);
  return parts.join(', ') || 'no visible change';
}

/** The selected deck's history (read offline from this device's copy), newest first. */
function renderHistory(deck) {
  const entries = deck ? client.deckHistory(deck.id, { limit: 10 }).entries : [];
  $('history-list').replaceChildren(...entries.map((e, i) => {
    const li = document.createElement('li');
    li.dataset.device = e.device_name;
    li.dataset.index = String(i);
    li.innerHTML = '<span class="when"></span> <strong class="who"></strong> <span class="what"></span> ';
    li.querySelector('.when').textContent = new Date(e.at).toLocaleTimeString();
    li.querySelector('.who').textContent = e.device_name;
    li.querySelector('.what').textContent = describe(e.summary);
    if (i > 0) {
      const b = document.createElement('button');
      b.className = 'restore';
      b.textContent = 'Restore this version';
      b.onclick = () => act(() => {
        client.restoreDeck(deck.id, e.version);
        editing = false;
        log(`restored the version of ${e.device_name} at ${li.querySelector('.when').textContent}`);
      });
      li.append(b);
    }
    return li;
  }));
  const c = deck?.conflicts;
  $('conflicts').hidden = !c;
  $('conflicts').textContent = c
    ? `Changed on two devices: ${Object.entries(c).map(([k, v]) => `${k}: ${v.join(' / ')}`).join('; ')}`
    : '';
}

async function act(fn) {
  try {
    await fn();
  } catch (e) {
    log(`error ${e.code ?? ''}: ${e.message}`);
  }
  render();
}

client.on('status', (s, detail) => {
  $('status').textContent = s;
  $('status').dataset.status = s;
  $('pending').textContent = String(client.pendingChanges);
  log(detail ? `status ${s}: ${detail.message}` : `status ${s}`);
});
client.on('change', (e) => { if (e.origin === 'remote') log('changes arrived'); render(); });
client.on('error', (e) => log(`error ${e.code}: ${e.message}`));
client.on('conflict', () => log('changed on two devices at once: see the deck'));

const account = (how) => act(async () => {
  const email = $('email').value;
  const password = $('password').value;
  await (how === 'register' ? client.register(email, password) : client.login(email, password));
  log(`${how} ok`);
  client.connect();
});
$('register').onclick = () => account('register');
$('login').onclick = () => account('login');
$('logout').onclick = () => act(async () => { await client.logout(); log('logged out'); });
$('new-deck').onclick = () => act(() => {
  const id = `farm-${Date.now().toString(36)}`;
  client.createDeck({
    id,
    name: 'Farm Animals',
    emoji: '🐮',
    markdown: '# Farm Animals\n\nCow :: Moo\n\nSheep :: Baa\n',
  });
  selected = id;
  log('deck created');
});
$('deck-select').onchange = (e) => { selected = e.target.value; editing = false; render(); };
$('markdown').oninput = () => { editing = true; };
$('save').onclick = () => act(() => {
  client.editMarkdown(selected, $('markdown').value);
  editing = false;
  log('markdown saved');
});
$('toggle-online').onclick = () => {
  if (client.status === 'offline') {
    client.connect();
    $('toggle-online').textContent = 'Go offline';
  } else {
    client.disconnect();
    $('toggle-online').textContent = 'Go online';
  }
};

setInterval(() => { $('pending').textContent = String(client.pendingChanges); }, 250);
if (client.user) client.connect();
render();
window.demo = { client, render, cardsOf };
document.body.dataset.ready = 'true';
