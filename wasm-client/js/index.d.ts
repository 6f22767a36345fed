// Types of @myflashplay/sync-client. The data shapes are MyFlashPlay's own,
// field for field as the app declares them (src/types/flashcard.types.ts,
// game.types.ts, storage.types.ts, utils/achievements.ts): the app's objects
// pass in and come back assignable without casts. Fields the client adds
// are optional (`Deck.markdown`); unknown fields the app stores are kept.

/** ISO-8601 UTC timestamp, e.g. `2026-10-04T11:48:00.000Z`. */
export type IsoTime = string;

export type CardType = 'simple' | 'multiple-choice' | 'true-false';
export type Difficulty = 'easy' | 'medium' | 'hard';
export type StudyMode = 'sequential' | 'random' | 'spaced';

export interface QuizOption {
  id: string;
  text: string;
  isCorrect: boolean;
}

/**
 * A card, always parsed from the deck's merged markdown by the app's card
 * grammar; `id` is derived (deck id + normalized front + occurrence), the
 * same on every device.
 */
export interface Flashcard {
  id: string;
  front: string;
  back: string;
  type: CardType;
  category?: string;
  subcategory?: string;
  media?: {
    type: 'image' | 'audio';
    url: string;
  };
  metadata: {
    difficulty: Difficulty;
    tags: string[];
    hint?: string;
    explanation?: string;
    relatedCards?: string[];
  };
  options?: QuizOption[];
}

export interface DeckMetadata {
  createdAt: IsoTime;
  lastModified: IsoTime;
  lastPlayed?: IsoTime;
  playCount: number;
  source: 'imported' | 'created' | 'template';
  /** The deck's markdown, as the app keeps it (same text as `Deck.markdown`). */
  originalMarkdown?: string;
  tags: string[];
  difficulty: 'beginner' | 'intermediate' | 'advanced';
  estimatedTime: number;
}

export interface DeckSettings {
  shuffleCards: boolean;
  repeatIncorrect: boolean;
  studyMode: StudyMode;
}

/** The app's `Deck`. Decks read from the client always carry `markdown`. */
export interface Deck {
  id: string;
  name: string;
  description: string;
  emoji: string;
  cards: Flashcard[];
  metadata: DeckMetadata;
  settings: DeckSettings;
  /** The deck's markdown, merged character by character across devices. */
  markdown?: string;
  /**
   * Fields two devices set concurrently whose values both survive (shown
   * value included), sorted; absent when none. Read-only: dropped when
   * written back; a write of the field resolves it.
   */
  conflicts?: Conflicts;
}

/** Field (dotted for nested ones) → the surviving values, sorted. */
export type Conflicts = Record<string, Json[]>;

/** Every conflict of the account, as `conflicts()` and the `conflict` event give it. */
export interface ConflictSet {
  decks: Record<string, Conflicts>;
  preferences: Conflicts;
}

/** What one history entry did. */
export interface HistorySummary {
  chars_inserted: number;
  chars_deleted: number;
  /** Deck fields written (`name`, `metadata.tags`, …), sorted. */
  fields_changed: string[];
  reviews_recorded: number;
  created: boolean;
  deleted: boolean;
  undeleted: boolean;
  restored: boolean;
}

/** One run of one device's changes (consecutive within 5 minutes). */
export interface HistoryEntry {
  /** The deck right after this entry: for `deckAt` and `restoreDeck`. */
  version: string;
  /** ISO-8601, the time the device set on its change. */
  at: string;
  device_name: string;
  summary: HistorySummary;
}

export interface HistoryPage {
  /** Newest first. */
  entries: HistoryEntry[];
  /** Pass as `before` for the next page; absent on the last one. */
  next_before?: string;
}

export interface DeletedDeck {
  deck_id: string;
  name: string;
  deleted_at: string;
  device_name: string;
  /** The deck's last version. */
  version: string;
}

/**
 * What `createDeck` takes: the app's `Deck`, or less (missing metadata and
 * settings get the app's defaults). The text comes from `markdown` or
 * `metadata.originalMarkdown`; `cards` that say otherwise regenerate it.
 */
export interface DeckInput {
  id: string;
  name: string;
  description?: string;
  emoji?: string;
  cards?: Flashcard[];
  metadata?: Partial<DeckMetadata>;
  settings?: Partial<DeckSettings>;
  markdown?: string;
}

/** Fields of `updateDeck`: any subset; metadata/settings merge key by key. */
export type DeckFields = Partial<Omit<DeckInput, 'id'>>;

export interface CardStats {
  views: number;
  correctCount: number;
  incorrectCount: number;
  lastSeen: IsoTime;
  /** Seconds. */
  averageResponseTime: number;
  /** 0..100 */
  confidence: number;
}

export interface SpacedRepetition {
  interval: number;
  easeFactor: number;
  nextReview: IsoTime;
  stage: 'learning' | 'reviewing' | 'mastered';
}

export interface CardProgress {
  cardId: string;
  deckId: string;
  stats: CardStats;
  spacedRepetition: SpacedRepetition;
}

/** One answer to record with `recordReview`. */
export interface ReviewInput {
  deckId: string;
  cardId: string;
  correct: boolean;
  /** Answer time in milliseconds (default 0). */
  responseMs?: number;
  /** When (default: now). */
  at?: IsoTime;
  /** Explicit SM-2 quality 0..5 (default from `correct`). */
  quality?: 0 | 1 | 2 | 3 | 4 | 5;
}

export type GameMode = 'study' | 'quiz' | 'speed' | 'memory' | 'falling';

export interface CardResult {
  cardId: string;
  wasCorrect: boolean;
  timeSpent: number;
  attempts: number;
  hintUsed: boolean;
}

export interface Bonus {
  type: 'speed' | 'streak' | 'perfect' | 'no-hints';
  points: number;
  description: string;
}

export interface GameSession {
  id: string;
  deckId: string;
  deckName: string;
  mode: GameMode;
  startTime: IsoTime;
  endTime?: IsoTime;
  duration?: number;
  score: {
    points: number;
    accuracy: number;
    correctAnswers: number;
    totalQuestions: number;
    streak: number;
    bestStreak: number;
  };
  details: {
    cardResults: CardResult[];
    bonuses: Bonus[];
    difficulty: string;
    hintsUsed: number;
  };
}

export interface AchievementProgress {
  achievementId: string;
  progress: number;
  maxProgress: number;
  unlockedAt?: IsoTime;
}

export interface UserPreferences {
  version: string;
  theme: 'light' | 'dark' | 'auto';
  colorScheme: 'rainbow' | 'ocean' | 'space' | 'forest';
  soundEnabled: boolean;
  animationsEnabled: boolean;
  fontSize: 'small' | 'medium' | 'large';
  language: string;
  accessibility: {
    highContrast: boolean;
    reducedMotion: boolean;
    screenReaderMode: boolean;
  };
  gameSettings: {
    defaultDifficulty: 'easy' | 'medium' | 'hard';
    showHints: boolean;
    autoAdvance: boolean;
    timerWarning: boolean;
  };
  lastUpdated: IsoTime;
}

/**
 * Preferences as stored: what has been set so far (nothing until the
 * learner changes something; the app supplies its defaults).
 */
export type StoredPreferences = {
  [K in keyof UserPreferences]?: UserPreferences[K] extends object ? Partial<UserPreferences[K]> : UserPreferences[K];
} & {
  /** Concurrent values by dotted path (read-only, absent when none). */
  conflicts?: Conflicts;
};

/** A JSON value (what `setPreference` stores at a path). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** The app's localStorage: key → the string stored under it. */
export type LocalStorageEntries = Record<string, string>;

/** Everything, as `GET /user/export` answers. */
export interface ExportData {
  preferences: StoredPreferences;
  decks: Record<string, Deck>;
  progress: Record<string, CardProgress>;
  achievements: Record<string, AchievementProgress>;
  starred: string[];
  sessions: Record<string, GameSession>;
  /** Every review event of every deck (deleted ones too), by `at` then id. */
  reviews: ReviewEvent[];
  /** Deleted decks, restorable by `importData`. */
  deleted_decks: Record<string, Deck>;
}

/** One recorded answer, as the export carries it. */
export interface ReviewEvent {
  id: string;
  deckId: string;
  cardId: string;
  /** ISO-8601 UTC. */
  at: string;
  /** The device (actor id, hex) that recorded it. */
  device: string;
  correct: boolean;
  responseMs: number;
  quality?: number;
}

/** What `importData` added and what the account holds after it. */
export interface ImportSummary {
  added: {
    decks: number;
    deleted_decks: number;
    progress: number;
    reviews: number;
    sessions: number;
    achievements: number;
    starred: number;
    preferences: number;
  };
  /** What the account holds afterwards, by its root document. */
  account: {
    decks: number;
    deleted_decks: number;
    achievements: number;
    starred: number;
  };
}

/** Where a device keeps its documents, tokens and sync state. */
export interface SyncStorage {
  /**
   * Names the stored data for the Web Locks by which clients sharing it
   * (a browser profile's tabs) coordinate: same id, same data. Storages
   * without an id share the name `storage`.
   */
  readonly id?: string;
  get(key: string): Promise<Uint8Array | string | undefined>;
  set(key: string, value: Uint8Array | string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

/** IndexedDB storage, one database per name. */
export function indexedDbStorage(name?: string): SyncStorage;
/** In-memory storage (Node, tests); lost when the process ends. */
export function memoryStorage(): SyncStorage;

/** The WebSocket constructor the client uses (browser's, or npm `ws` in Node). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface SyncClientOptions {
  /**
   * Base URL of the sync Worker, e.g. `https://sync.myflashplay.app`.
   * Without one the client is local-only: status `local`, the data in
   * `storage`, `register`/`login` fail with `no_server`.
   */
  server?: string | null;
  /**
   * Local storage: an adapter, or an IndexedDB database name. Default:
   * IndexedDB `myflashplay-sync` where available, else memory.
   */
  storage?: SyncStorage | string;
  /** The wasm: bytes, URL or compiled module (default: next to the package). */
  wasm?: BufferSource | URL | string | WebAssembly.Module;
  /** Shown in the user's session list. */
  deviceName?: string;
  /** `null`: no WebSocket, HTTP polling only. Default: `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor | null;
  /** Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Call `connect()` right away. */
  autoConnect?: boolean;
  /**
   * How long a WebSocket may take to open (`connectMs`, default 10 000)
   * and an HTTP call to answer with its headers (`requestMs`, default
   * 30 000) before the client gives it up and tries again (the body of a
   * large answer, an export, has no limit). A handshake or a call that
   * hangs would otherwise leave the client `connecting` for good.
   */
  timeouts?: { connectMs?: number; requestMs?: number };
  /**
   * The app's bundled sample decks (its `sampleMarkdownDecks`): each
   * sample's text is the shared first version of that deck on every
   * device, and first-run imports name the samples as the app shows them.
   */
  samples?: SampleDeck[];
}

/** One of the app's bundled sample decks (`sampleMarkdownDecks`). */
export interface SampleDeck {
  id: string;
  name: string;
  description?: string;
  tags?: string[];
  markdown: string;
  emoji?: string;
}

/**
 * - `offline`: not connected (not asked to, no network, or server unreachable);
 * - `connecting`: opening the connection or in the first round;
 * - `synced`: connected and up to date (see `pendingChanges`);
 * - `error`: the session ended (logged out elsewhere, revoked): log in again;
 * - `local`: the client has no server (local-only data).
 */
export type SyncStatus = 'offline' | 'connecting' | 'synced' | 'error' | 'local';

export interface ChangeEvent {
  /** `local`: an edit on this device; `remote`: changes arrived by sync. */
  origin: 'local' | 'remote';
}

export interface SyncEvents {
  status: (status: SyncStatus, detail?: SyncClientError) => void;
  change: (event: ChangeEvent) => void;
  /** `pendingChanges` changed (the new count): a status chip needs only this and `status`. */
  pending: (pendingChanges: number) => void;
  /** Non-fatal problems (a refused message, a storage write that failed). */
  error: (error: SyncClientError) => void;
  /** A remote change made fields conflict ("changed on two devices"): the new ones. */
  conflict: (conflicts: ConflictSet) => void;
}

export interface User {
  userId: string;
  email: string;
}

/** Every error the client throws: a stable `code` (docs/api.md codes plus
 * `network`, `timeout`, `storage`, `deck_not_found`, `validation_failed`,
 * `local_storage`, `too_many_decks`, `bad_path`, `sync_refused`,
 * `newer_schema` (a newer app version wrote that document: update), ...). */
export class SyncClientError extends Error {
  readonly name: 'SyncClientError';
  readonly code: string;
  /** HTTP status when the server answered. */
  readonly status?: number;
  constructor(code: string, message: string, status?: number);
}

/** Loads the wasm core (done by `SyncClient.open` and `prehash`). */
export function init(wasm?: BufferSource | URL | string | WebAssembly.Module): Promise<unknown>;

/** docs/api.md's password prehash: 43 base64url characters. */
export function prehash(email: string, password: string): Promise<string>;

export class SyncClient {
  private constructor();
  /** Opens local storage and, when a session was saved, the user's data. */
  static open(options: SyncClientOptions): Promise<SyncClient>;

  readonly status: SyncStatus;
  readonly user: User | null;
  /** Documents with local changes the server has not confirmed yet. */
  readonly pendingChanges: number;
  readonly peerId: string;

  on<E extends keyof SyncEvents>(event: E, handler: SyncEvents[E]): () => void;

  /** `recoveryCodes`: shown this once; the parent keeps them (README). */
  register(
    email: string,
    password: string,
    options?: { deviceName?: string },
  ): Promise<User & { recoveryCodes: string[] }>;
  /** A new password with a recovery code (used up); other sessions end. */
  recover(
    email: string,
    code: string,
    newPassword: string,
    options?: { deviceName?: string },
  ): Promise<User>;
  /** A new set of recovery codes; the old set stops working. */
  regenerateRecoveryCodes(password: string): Promise<string[]>;
  login(email: string, password: string, options?: { deviceName?: string }): Promise<User>;
  /** Ends the session; erases this user's local data unless `keepLocalData`. */
  logout(options?: { keepLocalData?: boolean }): Promise<void>;

  /** WebSocket with reconnect and backoff; HTTP polling when it is down. */
  connect(): void;
  disconnect(): void;
  /** Resolves when status is `synced` and nothing is pending. */
  synced(options?: { timeoutMs?: number }): Promise<void>;
  /** One `POST /sync` round now. */
  syncNow(): Promise<void>;
  /** Resolves once every change so far is in local storage. */
  flushStorage(): Promise<void>;
  /** Disconnects and frees the wasm memory. */
  close(): Promise<void>;

  decks(): Record<string, Deck>;
  deck(id: string): Deck | undefined;
  createDeck(deck: DeckInput): void;
  updateDeck(id: string, fields: DeckFields): void;
  /** Sets the markdown; stored as a character diff, so concurrent edits merge. */
  editMarkdown(id: string, markdown: string): void;
  deleteDeck(id: string): void;

  /** A page of a deck's history from this device's documents (offline too). */
  deckHistory(id: string, opts?: { limit?: number; before?: string }): HistoryPage;
  /** The deck as it was at a history entry's `version`. */
  deckAt(id: string, version: string): Deck;
  /** One new change making markdown and fields what they were at `version`; progress is kept. */
  restoreDeck(id: string, version: string): void;
  deletedDecks(): DeletedDeck[];
  /** Brings a deleted deck back with its progress. */
  undeleteDeck(id: string): void;
  /** Every current conflict of decks and preferences. */
  conflicts(): ConflictSet;

  progress(): Record<string, CardProgress>;
  /** Returns the review event id. */
  recordReview(review: ReviewInput): string;

  sessions(): Record<string, GameSession>;
  recordSession(session: GameSession): void;

  achievements(): Record<string, AchievementProgress>;
  setAchievement(achievement: AchievementProgress): void;

  starred(): string[];
  star(publicDeckId: string): void;
  unstar(publicDeckId: string): void;

  /** The preferences set so far (the app adds its defaults). */
  preferences(): StoredPreferences;
  /** Writes only the fields given (nested objects merge). */
  setPreferences(preferences: StoredPreferences): void;
  /** One field by dotted path, e.g. `gameSettings.showHints`. */
  setPreference(path: string, value: Json): void;

  exportData(): ExportData;
  /** Restores an export into the account on the server (merge, in parts). */
  importData(data: Partial<ExportData>): Promise<ImportSummary>;
  /** Imports the app's localStorage (a `Storage` or key → string). */
  importLocalStorage(entries: LocalStorageEntries | Storage, options?: { samples?: SampleDeck[] }): void;
  /** The app's localStorage entries, in its exact key/value shapes. */
  exportLocalStorage(): LocalStorageEntries;
}
