//! MyFlashPlay's SM-2 schedule, derived by replaying review events.
//!
//! The schedule (interval, ease, next review) is never stored as a
//! last-writer-wins field: two offline devices that both review a card
//! would overwrite each other. Instead every review is kept as an event and
//! the schedule is recomputed from the merged events in one deterministic
//! order (time, then device, then id), so every replica derives the same
//! schedule from the same set of reviews.
//!
//! The rules follow the app's `spaced-repetition.ts`: quality < 3 resets
//! (interval 1, repetitions 0, ease − 0.2); otherwise ease += 0.1 −
//! (5−q)(0.08 + (5−q)·0.02) and the interval goes 1, 6, then
//! round(interval × ease), then × 0.8 under 5 s or × 1.2 over 30 s (at least
//! 1). Ease never drops below 1.3.

use crate::model::{timestamp, Stage};

/// Lowest ease factor.
pub const MIN_EASE: f64 = 1.3;
/// Ease of a card never reviewed.
pub const DEFAULT_EASE: f64 = 2.5;
/// Intervals longer than this many days count as mastered.
pub const MASTERED_AFTER_DAYS: u64 = 21;

/// One review of a card, as replicated.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The device (actor) that recorded it.
    pub device: String,
    /// Unique id of the event.
    pub id: String,
    /// Answered right.
    pub correct: bool,
    /// Answer time.
    pub response_ms: u64,
    /// Explicit SM-2 quality 0..=5; otherwise 4 when correct, 2 when not.
    pub quality: Option<u8>,
}

impl Review {
    /// The SM-2 quality of this review.
    pub fn quality(&self) -> u8 {
        self.quality
            .unwrap_or(if self.correct { 4 } else { 2 })
            .min(5)
    }
}

/// A card's SM-2 state.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Days until the next review.
    pub interval: u64,
    /// Ease factor.
    pub ease_factor: f64,
    /// Successful reviews in a row.
    pub repetitions: u32,
    /// When the card is due, Unix milliseconds, once reviewed.
    pub next_review_ms: Option<i64>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: 1,
            ease_factor: DEFAULT_EASE,
            repetitions: 0,
            next_review_ms: None,
        }
    }
}

impl Schedule {
    /// A schedule imported from the app, which does not store repetitions:
    /// a card still learning counts as none, a later stage as two (so its
    /// next interval grows by the ease, as it would in the app).
    pub fn imported(interval: u64, ease_factor: f64, stage: Stage) -> Self {
        Schedule {
            interval: interval.max(1),
            ease_factor: ease_factor.max(MIN_EASE),
            repetitions: if stage == Stage::Learning { 0 } else { 2 },
            next_review_ms: None,
        }
    }

    /// The stage shown by the app.
    pub fn stage(&self) -> Stage {
        if self.interval > MASTERED_AFTER_DAYS {
            Stage::Mastered
        } else if self.repetitions >= 2 {
            Stage::Reviewing
        } else {
            Stage::Learning
        }
    }

    /// The state after one more review.
    pub fn apply(&self, review: &Review) -> Schedule {
        let q = f64::from(review.quality());
        let mut next = self.clone();
        if review.quality() < 3 {
            next.interval = 1;
            next.repetitions = 0;
            next.ease_factor = (self.ease_factor - 0.2).max(MIN_EASE);
        } else {
            next.ease_factor =
                (self.ease_factor + (0.1 - (5.0 - q) * (0.08 + (5.0 - q) * 0.02))).max(MIN_EASE);
            next.interval = match self.repetitions {
                0 => 1,
                1 => 6,
                _ => round_days(self.interval as f64 * next.ease_factor),
            };
            if review.response_ms < 5_000 {
                next.interval = round_days(next.interval as f64 * 0.8).max(1);
            } else if review.response_ms > 30_000 {
                next.interval = round_days(next.interval as f64 * 1.2).max(1);
            }
            next.repetitions = self.repetitions.saturating_add(1);
        }
        next.next_review_ms = Some(timestamp::add_days(
            review.at_ms,
            i64::try_from(next.interval).unwrap_or(i64::MAX),
        ));
        next
    }
}

/// JavaScript's `Math.round` for the non-negative values used here, capped
/// at 100 years so a long run of easy reviews cannot overflow.
fn round_days(x: f64) -> u64 {
    (x + 0.5).floor().clamp(0.0, 36_500.0) as u64
}

/// Sorts reviews into the replay order: time, then device, then id.
pub fn sort(reviews: &mut [Review]) {
    reviews.sort_by(|a, b| (a.at_ms, &a.device, &a.id).cmp(&(b.at_ms, &b.device, &b.id)));
}

/// Replays `reviews` (in replay order, whatever order they come in) from
/// `start`.
pub fn replay(start: Schedule, reviews: &[Review]) -> Schedule {
    let mut sorted = reviews.to_vec();
    sort(&mut sorted);
    sorted.iter().fold(start, |s, r| s.apply(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(at_days: i64, device: &str, correct: bool, response_ms: u64) -> Review {
        Review {
            at_ms: at_days * 86_400_000,
            device: device.into(),
            id: format!("{device}-{at_days}"),
            correct,
            response_ms,
            quality: None,
        }
    }

    #[test]
    fn correct_answers_grow_the_interval() {
        let s = replay(
            Schedule::default(),
            &[
                review(0, "a", true, 10_000),
                review(1, "a", true, 10_000),
                review(7, "a", true, 10_000),
            ],
        );
        // 1, then 6, then round(6 × 2.5) = 15; quality 4 keeps the ease.
        assert_eq!(s.interval, 15);
        assert_eq!(s.repetitions, 3);
        assert!((s.ease_factor - 2.5).abs() < 1e-9);
        assert_eq!(s.next_review_ms, Some(22 * 86_400_000));
        assert_eq!(s.stage(), Stage::Reviewing);
    }

    #[test]
    fn a_wrong_answer_resets_and_lowers_ease() {
        let s = replay(
            Schedule::default(),
            &[review(0, "a", true, 10_000), review(1, "b", false, 10_000)],
        );
        assert_eq!((s.interval, s.repetitions), (1, 0));
        assert!((s.ease_factor - 2.3).abs() < 1e-9);
        assert_eq!(s.stage(), Stage::Learning);
    }

    #[test]
    fn speed_adjusts_and_ease_has_a_floor() {
        // 6 × 0.8 = 4.8 → 5; 6 × 1.2 = 7.2 → 7.
        let fast = replay(
            Schedule::default(),
            &[review(0, "a", true, 9_000), review(1, "a", true, 2_000)],
        );
        assert_eq!(fast.interval, 5);
        let slow = replay(
            Schedule::default(),
            &[review(0, "a", true, 9_000), review(1, "a", true, 40_000)],
        );
        assert_eq!(slow.interval, 7);
        let many_wrong: Vec<Review> = (0..20).map(|d| review(d, "a", false, 9_000)).collect();
        assert!((replay(Schedule::default(), &many_wrong).ease_factor - MIN_EASE).abs() < 1e-9);
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let a = [
            review(0, "a", true, 9_000),
            review(0, "b", false, 9_000),
            review(2, "a", true, 9_000),
        ];
        let b = [a[2].clone(), a[1].clone(), a[0].clone()];
        assert_eq!(
            replay(Schedule::default(), &a),
            replay(Schedule::default(), &b)
        );
    }

    #[test]
    fn long_intervals_are_mastered_and_bounded() {
        let s = Schedule::imported(30, 2.5, Stage::Reviewing);
        let s = s.apply(&review(0, "a", true, 9_000));
        assert_eq!(s.interval, 75);
        assert_eq!(s.stage(), Stage::Mastered);
        let easy = Review {
            quality: Some(5),
            ..review(0, "a", true, 9_000)
        };
        let far = (0..200).fold(Schedule::default(), |s, _| s.apply(&easy));
        assert!(far.interval <= 36_500);
    }
}
