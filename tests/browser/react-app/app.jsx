// A small React app built on @myflashplay/sync-client/react, shaped like
// MyFlashPlay: its hooks come from the bindings, and like the real app it
// also writes localStorage directly (the edit page's raw markdown, the
// accessibility settings' preferences object, the play page's sessions).
// Bundled by react-bindings.test.mjs with esbuild; React from npm.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  SyncProvider, SyncStore, useDecks, usePreferences, useProgress, useSyncAccount, useSyncStatus,
} from '@myflashplay/sync-client/react';

const config = await (await fetch('/config.json')).json();
const store = new SyncStore({ server: config.server, samples: config.samples, deviceName: 'react-app' });
window.app = { store, renders: 0 };

function Chip() {
  const { status, pendingChanges, lastError } = useSyncStatus();
  return <p><span id="chip" data-status={status}>{status}, {pendingChanges} pending</span>
    <span id="last-error">{lastError ? lastError.code : ''}</span></p>;
}

function Account() {
  const { user, signIn, register, signOut } = useSyncAccount();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('correct horse battery');
  if (user) {
    return <p><span id="user">{user.email}</span> <button id="sign-out" onClick={() => signOut()}>Sign out</button></p>;
  }
  return (
    <form onSubmit={(e) => { e.preventDefault(); signIn(email, password).catch(() => {}); }}>
      <input id="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      <input id="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <button id="sign-in">Sign in</button>
      <button id="register" type="button" onClick={() => register(email, password).catch(() => {})}>Register</button>
    </form>
  );
}

/** The create page's deck: its cards parsed with random ids, the text in metadata.originalMarkdown. */
function newDeck(name, emoji, markdown) {
  const now = new Date().toISOString();
  const cards = markdown.split('\n').filter((l) => l.includes(' :: ')).map((l) => {
    const [front, back] = l.split(' :: ').map((s) => s.trim());
    return { id: crypto.randomUUID(), front, back, type: 'simple', metadata: { difficulty: 'easy', tags: [] } };
  });
  return {
    id: crypto.randomUUID(), name, description: '', emoji, cards,
    metadata: { createdAt: now, lastModified: now, playCount: 0, source: 'created', originalMarkdown: markdown,
      tags: [], difficulty: 'beginner', estimatedTime: 5 },
    settings: { shuffleCards: true, repeatIncorrect: true, studyMode: 'random' },
  };
}

function Decks() {
  const { decks, error, getDeck, addDeck, updateDeck } = useDecks();
  const { progress } = useProgress();
  const [selected, setSelected] = useState(null);
  const [text, setText] = useState('');
  const deck = selected ? getDeck(selected) : null;
  const create = () => {
    const name = document.getElementById('new-name').value;
    const md = document.getElementById('new-md').value;
    const d = newDeck(name, '🐶', md);
    const r = addDeck(d);
    if (r.success) { setSelected(d.id); setText(md); }
  };
  // As the edit page: updateDeck with the whole deck, then the raw text straight into localStorage.
  const save = () => {
    updateDeck(deck.id, { ...deck, metadata: { ...deck.metadata, originalMarkdown: text } });
    localStorage.setItem(`mdoc_${deck.id}`, text);
  };
  // As the play page: the finished session appended to myflashplay_sessions.
  const play = () => {
    const now = new Date().toISOString();
    const session = {
      id: crypto.randomUUID(), deckId: deck.id, deckName: deck.name, mode: 'study', startTime: now, endTime: now, duration: 4,
      score: { points: deck.cards.length * 10, accuracy: 100, correctAnswers: deck.cards.length, totalQuestions: deck.cards.length, streak: 0, bestStreak: 0 },
      details: { cardResults: deck.cards.map((c) => ({ cardId: c.id, wasCorrect: true, timeSpent: 1, attempts: 1, hintUsed: false })),
        bonuses: [], difficulty: 'study', hintsUsed: 0 },
    };
    const sessions = JSON.parse(localStorage.getItem('myflashplay_sessions') || '[]');
    sessions.push(session);
    localStorage.setItem('myflashplay_sessions', JSON.stringify(sessions));
  };
  return (
    <div>
      <p id="deck-error">{error ?? ''}</p>
      <ul id="decks">{decks.map((d) => (
        <li key={d.id} data-deck={d.id}>
          <button onClick={() => { setSelected(d.id); setText(d.markdown ?? ''); }}>{d.emoji} {d.name}</button> ({d.cards.length} cards)
        </li>))}
      </ul>
      <input id="new-name" defaultValue="My Animals" />
      <textarea id="new-md" defaultValue={'Cat :: Meow\nDog :: Woof\n'} />
      <button id="create" onClick={create}>Create</button>
      {deck && (
        <div id="editor" data-deck={deck.id}>
          <textarea id="md" value={text} onChange={(e) => setText(e.target.value)} />
          <button id="save" onClick={save}>Save</button>
          <button id="play" onClick={play}>Play</button>
          <pre id="shown-md">{deck.markdown}</pre>
          <ul id="cards">{deck.cards.map((c) => (
            <li key={c.id} data-card={c.id}>{c.front} / {c.back} · views {progress[c.id]?.stats.views ?? 0}</li>))}
          </ul>
        </div>
      )}
    </div>
  );
}

function Settings() {
  const { preferences, updatePreferences } = usePreferences();
  // As the accessibility settings: the whole object written straight to localStorage.
  const fontLarge = () => {
    const prefs = JSON.parse(localStorage.getItem('myflashplay_preferences') || 'null') ?? preferences;
    const next = { ...prefs, fontSize: 'large' };
    localStorage.setItem('myflashplay_preferences', JSON.stringify(next));
    window.dispatchEvent(new CustomEvent('localStorage-update', { detail: { key: 'myflashplay_preferences', value: next } }));
  };
  return (
    <div>
      <pre id="prefs">{JSON.stringify({ soundEnabled: preferences.soundEnabled, fontSize: preferences.fontSize, language: preferences.language })}</pre>
      <button id="lang-vi" onClick={() => updatePreferences({ language: 'vi-VI' })}>Tiếng Việt</button>
      <button id="sound-off" onClick={() => updatePreferences({ soundEnabled: false })}>Sound off</button>
      <button id="font-large" onClick={fontLarge}>Large font</button>
    </div>
  );
}

function App() {
  window.app.renders += 1;
  return <main data-ready="true"><Chip /><Account /><Decks /><Settings /></main>;
}

createRoot(document.getElementById('root')).render(
  <SyncProvider store={store} fallback={<p id="loading">loading</p>}><App /></SyncProvider>,
);
