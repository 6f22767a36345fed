// The MyFlashPlay app's data types as its src/types (and utils/achievements.ts)
// declare them at commit c6e6514: field names, optionality and literal unions
// exactly, no index signatures. Written here from those declarations, so the
// bindings are checked against the app's own shapes (usage.tsx).
export type AppCardType = 'simple' | 'multiple-choice' | 'true-false';
export type AppDifficulty = 'easy' | 'medium' | 'hard';

export interface AppQuizOption { id: string; text: string; isCorrect: boolean }

export interface AppFlashcard {
  id: string;
  front: string;
  back: string;
  type: AppCardType;
  category?: string;
  subcategory?: string;
  media?: { type: 'image' | 'audio'; url: string };
  metadata: { difficulty: AppDifficulty; tags: string[]; hint?: string; explanation?: string; relatedCards?: string[] };
  options?: AppQuizOption[];
}

export interface AppDeck {
  id: string;
  name: string;
  description: string;
  emoji: string;
  cards: AppFlashcard[];
  metadata: {
    createdAt: string;
    lastModified: string;
    lastPlayed?: string;
    playCount: number;
    source: 'imported' | 'created' | 'template';
    originalMarkdown?: string;
    tags: string[];
    difficulty: 'beginner' | 'intermediate' | 'advanced';
    estimatedTime: number;
  };
  settings: { shuffleCards: boolean; repeatIncorrect: boolean; studyMode: 'sequential' | 'random' | 'spaced' };
}

export interface AppCardResult { cardId: string; wasCorrect: boolean; timeSpent: number; attempts: number; hintUsed: boolean }
export interface AppBonus { type: 'speed' | 'streak' | 'perfect' | 'no-hints'; points: number; description: string }

export interface AppGameSession {
  id: string;
  deckId: string;
  deckName: string;
  mode: 'study' | 'quiz' | 'speed' | 'memory' | 'falling';
  startTime: string;
  endTime?: string;
  duration?: number;
  score: { points: number; accuracy: number; correctAnswers: number; totalQuestions: number; streak: number; bestStreak: number };
  details: { cardResults: AppCardResult[]; bonuses: AppBonus[]; difficulty: string; hintsUsed: number };
}

export interface AppUserPreferences {
  version: string;
  theme: 'light' | 'dark' | 'auto';
  colorScheme: 'rainbow' | 'ocean' | 'space' | 'forest';
  soundEnabled: boolean;
  animationsEnabled: boolean;
  fontSize: 'small' | 'medium' | 'large';
  language: string;
  accessibility: { highContrast: boolean; reducedMotion: boolean; screenReaderMode: boolean };
  gameSettings: { defaultDifficulty: 'easy' | 'medium' | 'hard'; showHints: boolean; autoAdvance: boolean; timerWarning: boolean };
  lastUpdated: string;
}

export interface AppCardProgress {
  cardId: string;
  deckId: string;
  stats: { views: number; correctCount: number; incorrectCount: number; lastSeen: string; averageResponseTime: number; confidence: number };
  spacedRepetition: { interval: number; easeFactor: number; nextReview: string; stage: 'learning' | 'reviewing' | 'mastered' };
}

export interface AppAchievementProgress { achievementId: string; progress: number; maxProgress: number; unlockedAt?: string }

/** An element of the app's `sampleMarkdownDecks` (an inferred literal type there). */
export interface AppSampleDeck {
  id: string;
  name: string;
  description: string;
  author: string;
  difficulty: 'easy' | 'medium';
  tags: string[];
  markdown: string;
}

/** What the app's own hooks return (src/hooks/useDecks.ts, usePreferences.ts). */
export interface AppUseDecks {
  decks: AppDeck[];
  isLoading: boolean;
  error: string | null;
  addDeck: (deck: AppDeck) => { success: boolean; error?: string };
  updateDeck: (deckId: string, updates: Partial<AppDeck>) => void;
  deleteDeck: (deckId: string) => void;
  getDeck: (deckId: string) => AppDeck | null;
}

export interface AppUsePreferences {
  preferences: AppUserPreferences;
  updatePreferences: (updates: Partial<AppUserPreferences>) => void;
  setPreferences: (value: AppUserPreferences | ((val: AppUserPreferences) => AppUserPreferences)) => void;
}
