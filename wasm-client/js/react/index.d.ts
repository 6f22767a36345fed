// Types of @myflashplay/sync-client/react. The data types are the core
// package's, which are MyFlashPlay's own (src/types): the app's objects go
// in and come back assignable without casts.
import type { ReactNode } from 'react';
import type {
  AchievementProgress,
  CardProgress,
  Deck,
  DeckInput,
  GameSession,
  ReviewInput,
  SampleDeck,
  SyncClient,
  SyncClientError,
  SyncStatus,
  SyncStorage,
  User,
  UserPreferences,
  WebSocketConstructor,
} from '../index.js';

export type {
  AchievementProgress, CardProgress, Deck, DeckInput, GameSession, ReviewInput, SampleDeck, User, UserPreferences,
} from '../index.js';

export interface SyncOptions {
  /** The sync Worker's URL; absent: local only (status `local`). */
  server?: string | null;
  /** Where the account's data is kept (IndexedDB name or adapter; default `myflashplay-sync`). */
  storage?: SyncStorage | string;
  /** The app's `sampleMarkdownDecks`: seeded on first run as the app does, named as it names them. */
  samples?: SampleDeck[];
  /** Shown in the account's session list. */
  deviceName?: string;
  /** The wasm: bytes, URL or compiled module (default: next to the package). */
  wasm?: BufferSource | URL | string | WebAssembly.Module;
  /** The Storage mirrored (default `window.localStorage`). */
  localStorage?: Storage;
  /** Passed on to the client (tests). */
  WebSocket?: WebSocketConstructor | null;
}

/** `signed-out` (logged out; the data is the app's localStorage), or the client's status. */
export type BindingsStatus = SyncStatus | 'signed-out';

/** The last failure (sign-in, sync, a localStorage value that could not be read), or null. */
export interface SyncErrorInfo {
  code: string;
  message: string;
}

/** The state the hooks read; `SyncProvider` makes one. */
export class SyncStore {
  constructor(options?: SyncOptions);
  open(): Promise<void>;
  readonly ready: boolean;
  /** The client the data lives in now: a local-only one, or the account's. */
  readonly client: SyncClient;
  readonly user: User | null;
  readonly status: BindingsStatus;
  readonly pendingChanges: number;
  readonly lastError: SyncErrorInfo | null;
  signIn(email: string, password: string): Promise<User>;
  register(email: string, password: string): Promise<User>;
  signOut(options?: SignOutOptions): Promise<void>;
  close(): Promise<void>;
}

export interface SignOutOptions {
  /** Keep the account's data on this device as the logged-out data (default: erase it). */
  keepLocalCopy?: boolean;
}

export interface SyncProviderProps extends SyncOptions {
  children?: ReactNode;
  /** Rendered until the data is open (default nothing). */
  fallback?: ReactNode;
  /** A store made beforehand (then the options above are not used). */
  store?: SyncStore;
  /** Opening failed (the wasm did not load, ...). */
  onError?: (error: unknown) => void;
}

/**
 * The root of the bindings: opens the data once and gives it to every
 * hook below; its first render after opening shows the data.
 *
 * @example
 * root.render(
 *   <SyncProvider server={import.meta.env.VITE_SYNC_URL} samples={sampleMarkdownDecks}>
 *     <RouterProvider router={router} />
 *   </SyncProvider>,
 * );
 */
export function SyncProvider(props: SyncProviderProps): ReactNode;

export type AddDeckResult = { success: true } | { success: false; error?: string };

/**
 * The app's `useDecks`, same shape.
 *
 * @example
 * const { decks, isLoading, error, getDeck, addDeck, updateDeck, deleteDeck } = useDecks();
 */
export function useDecks(): {
  /** The decks the app lists (its index order), or its samples while it lists none. */
  decks: Deck[];
  isLoading: boolean;
  error: string | null;
  getDeck(deckId: string): Deck | null;
  addDeck(deck: DeckInput): AddDeckResult;
  /** As the app: `metadata.originalMarkdown` (or `markdown`) is the new text; lastModified is set here. */
  updateDeck(deckId: string, updates: Partial<Deck>): void;
  deleteDeck(deckId: string): void;
};

/** The app's default preferences. */
export const DEFAULT_PREFERENCES: UserPreferences;

/**
 * The app's `usePreferences`, same shape; only changed fields are written.
 *
 * @example
 * const { preferences, updatePreferences } = usePreferences();
 * updatePreferences({ soundEnabled: false });
 */
export function usePreferences(): {
  preferences: UserPreferences;
  updatePreferences(updates: Partial<UserPreferences>): void;
  setPreferences(value: UserPreferences | ((prev: UserPreferences) => UserPreferences)): void;
};

/**
 * Card progress from every device's reviews (each saved game's card
 * results are reviews).
 *
 * @example
 * const { progress } = useProgress();
 * const stage = progress[card.id]?.spacedRepetition.stage ?? 'new';
 */
export function useProgress(): {
  progress: Record<string, CardProgress>;
  /** Returns the review event id. */
  recordReview(review: ReviewInput): string;
};

/**
 * Game sessions from every device, oldest first.
 *
 * @example
 * const { sessions, recordSession } = useSessions();
 */
export function useSessions(): {
  sessions: GameSession[];
  /** Saves a session; its card results become reviews. */
  recordSession(session: GameSession): void;
};

/**
 * Achievement progress merged over devices.
 *
 * @example
 * const { achievements } = useAchievements();
 */
export function useAchievements(): {
  achievements: AchievementProgress[];
  setAchievement(achievement: AchievementProgress): void;
};

/**
 * Starred public decks.
 *
 * @example
 * const { starred, setStarred } = useStarred();
 */
export function useStarred(): {
  starred: string[];
  setStarred(value: string[] | ((prev: string[]) => string[])): void;
  star(publicDeckId: string): void;
  unstar(publicDeckId: string): void;
};

/**
 * The account: sign in (sync starts at once), register, sign out.
 *
 * @example
 * const { user, signIn, signOut } = useSyncAccount();
 */
export function useSyncAccount(): {
  user: User | null;
  signIn(email: string, password: string): Promise<User>;
  register(email: string, password: string): Promise<User>;
  signOut(options?: SignOutOptions): Promise<void>;
};

/**
 * For a sync chip, updated from events alone.
 *
 * @example
 * const { status, pendingChanges } = useSyncStatus();
 */
export function useSyncStatus(): {
  status: BindingsStatus;
  pendingChanges: number;
  lastError: SyncErrorInfo | null;
};

export type { SyncClientError };
