//! The session rules on rusqlite, with the clock passed in.

use super::*;
use crate::auth::profile::{profile, set_display_name};
use crate::auth::refresh::{RefreshToken, TokenKind};
use crate::auth::tickets::{consume_ticket, issue_ticket, TICKET_TTL_MS};
use crate::store::sqlite::Sqlite;

const DAY: u64 = 86_400_000;
const TTL: u64 = 30 * DAY;

fn store() -> Sqlite {
    let db = Sqlite::in_memory().unwrap();
    create_schema(&db).unwrap();
    create_schema(&db).unwrap(); // idempotent
    db
}

fn user() -> UserId {
    UserId::new(1_700_000_000_000, [9; 10])
}

fn login(db: &Sqlite, seed: u8, now: u64) -> Grant {
    let new = NewSession {
        user_id: user(),
        email: "a@example.com".into(),
        device_name: Some(format!("device {seed}")),
        refresh_ttl_ms: TTL,
        revoke_all: false,
    };
    open(db, &new, now, [seed; 16], [seed; 32]).unwrap()
}

fn hash_of(g: &Grant) -> String {
    RefreshToken::parse(&g.refresh_token).unwrap().hash()
}

#[test]
fn a_session_opens_once_per_login_over_one_profile() {
    let db = store();
    let a = login(&db, 1, 1000);
    let b = login(&db, 2, 2000);
    assert_ne!(a.session_id, b.session_id);
    assert_eq!((a.user_id, a.email.as_str()), (user(), "a@example.com"));
    let token = RefreshToken::parse(&a.refresh_token).unwrap();
    assert_eq!((token.user_id, &token.session_id), (user(), &a.session_id));
    let p = profile(&db).unwrap().unwrap();
    assert_eq!(p.created_at, 1000, "the first login made the profile");
    let answer = serde_json::to_value(p.answer()).unwrap();
    assert_eq!(answer["created_at"], "1970-01-01T00:00:01.000Z");
    assert_eq!(
        answer["root_document_id"],
        user().root_document_id().to_string()
    );
    set_display_name(&db, Some("Ada")).unwrap();
    assert_eq!(
        profile(&db).unwrap().unwrap().display_name.as_deref(),
        Some("Ada")
    );
    let listed = list(&db, &b.session_id).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].current, listed[1].current),
        (false, true),
        "oldest first, the caller's marked"
    );
    assert_eq!(listed[1].device_name.as_deref(), Some("device 2"));
}

#[test]
fn rotation_replaces_the_token_and_the_old_one_stops_working() {
    let db = store();
    let g = login(&db, 1, 1000);
    let first = hash_of(&g);
    let r = rotate(&db, &g.session_id, &first, TTL, 2000, [7; 32]).unwrap();
    assert_eq!(r.session_id, g.session_id);
    assert_ne!(r.refresh_token, g.refresh_token);
    let second = hash_of(&r);
    let r2 = rotate(&db, &g.session_id, &second, TTL, 3000, [8; 32]).unwrap();
    assert_ne!(hash_of(&r2), second);
    // A hash never issued for the session is refused without revoking.
    assert_eq!(
        rotate(&db, &g.session_id, &"0".repeat(64), TTL, 4000, [9; 32]).unwrap_err(),
        AuthError::InvalidToken
    );
    assert!(authorize(&db, &g.session_id, 4000).is_ok());
}

#[test]
fn a_reused_refresh_token_revokes_its_session() {
    let db = store();
    let g = login(&db, 1, 1000);
    let other = login(&db, 2, 1000);
    let old = hash_of(&g);
    let r = rotate(&db, &g.session_id, &old, TTL, 2000, [7; 32]).unwrap();
    assert_eq!(
        rotate(&db, &g.session_id, &old, TTL, 3000, [8; 32]).unwrap_err(),
        AuthError::RefreshReused
    );
    // The thief's and the owner's token both stop working …
    assert_eq!(
        rotate(&db, &g.session_id, &hash_of(&r), TTL, 3001, [9; 32]).unwrap_err(),
        AuthError::InvalidToken
    );
    assert_eq!(
        authorize(&db, &g.session_id, 3001).unwrap_err(),
        AuthError::InvalidToken
    );
    // … and only that session is gone.
    assert!(authorize(&db, &other.session_id, 3001).is_ok());
    // Another session's old hash does not revoke this one.
    let o1 = hash_of(&other);
    rotate(&db, &other.session_id, &o1, TTL, 4000, [10; 32]).unwrap();
    let third = login(&db, 3, 4000);
    assert_eq!(
        rotate(&db, &third.session_id, &o1, TTL, 4001, [11; 32]).unwrap_err(),
        AuthError::InvalidToken
    );
    assert!(authorize(&db, &third.session_id, 4001).is_ok());
}

#[test]
fn a_refresh_token_expires_with_its_lifetime() {
    let db = store();
    let g = login(&db, 1, 1000);
    let h = hash_of(&g);
    assert_eq!(
        rotate(&db, &g.session_id, &h, TTL, 1000 + TTL, [2; 32]).unwrap_err(),
        AuthError::InvalidToken
    );
    let r = rotate(&db, &g.session_id, &h, TTL, 999 + TTL, [2; 32]).unwrap();
    // Rotation extends the lifetime from the time of use.
    assert!(rotate(
        &db,
        &g.session_id,
        &hash_of(&r),
        TTL,
        998 + 2 * TTL,
        [3; 32]
    )
    .is_ok());
}

#[test]
fn unknown_and_revoked_sessions_are_refused() {
    let db = store();
    let stranger = SessionId::new([5; 16]);
    assert_eq!(
        authorize(&db, &stranger, 1).unwrap_err(),
        AuthError::InvalidToken,
        "no profile yet"
    );
    let g = login(&db, 1, 1000);
    assert_eq!(
        authorize(&db, &stranger, 1).unwrap_err(),
        AuthError::InvalidToken
    );
    let me = authorize(&db, &g.session_id, 1000).unwrap();
    assert_eq!(me.user_id, user());
    revoke(&db, &g.session_id, 2000).unwrap();
    assert_eq!(
        authorize(&db, &g.session_id, 2000).unwrap_err(),
        AuthError::InvalidToken
    );
    assert_eq!(
        rotate(&db, &g.session_id, &hash_of(&g), TTL, 2000, [1; 32]).unwrap_err(),
        AuthError::InvalidToken
    );
    assert_eq!(
        revoke(&db, &g.session_id, 3000).unwrap_err(),
        AuthError::SessionNotFound,
        "already revoked"
    );
    assert_eq!(
        revoke(&db, &stranger, 3000).unwrap_err(),
        AuthError::SessionNotFound
    );
}

#[test]
fn revoke_others_keeps_only_the_current_session() {
    let db = store();
    let a = login(&db, 1, 1000);
    let b = login(&db, 2, 1000);
    let c = login(&db, 3, 1000);
    assert_eq!(live(&db).unwrap(), 3);
    revoke_others(&db, &b.session_id, 2000).unwrap();
    assert!(authorize(&db, &b.session_id, 2000).is_ok());
    for gone in [&a, &c] {
        assert!(authorize(&db, &gone.session_id, 2000).is_err());
    }
    assert_eq!(live(&db).unwrap(), 1);
    let listed = list(&db, &b.session_id).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].current);
}

#[test]
fn a_recovery_login_revokes_every_older_session() {
    let db = store();
    let a = login(&db, 1, 1000);
    let new = NewSession {
        user_id: user(),
        email: "a@example.com".into(),
        device_name: None,
        refresh_ttl_ms: TTL,
        revoke_all: true,
    };
    let g = open(&db, &new, 2000, [2; 16], [2; 32]).unwrap();
    assert!(authorize(&db, &a.session_id, 2000).is_err());
    assert!(authorize(&db, &g.session_id, 2000).is_ok());
    assert_eq!(live(&db).unwrap(), 1);
}

#[test]
fn last_seen_is_written_at_most_once_a_minute() {
    let db = store();
    let g = login(&db, 1, 0);
    let seen = |db: &Sqlite| list(db, &g.session_id).unwrap()[0].last_seen_at.clone();
    authorize(&db, &g.session_id, LAST_SEEN_GRANULARITY_MS).unwrap();
    assert_eq!(seen(&db), "1970-01-01T00:00:00.000Z");
    authorize(&db, &g.session_id, LAST_SEEN_GRANULARITY_MS + 1).unwrap();
    assert_eq!(seen(&db), "1970-01-01T00:01:00.001Z");
}

#[test]
fn a_ticket_works_once_and_only_before_it_expires() {
    let db = store();
    let g = login(&db, 1, 1000);
    let t = issue_ticket(&db, user(), &g.session_id, 1000, [4; 32]).unwrap();
    assert_eq!(t.expires_in, 60);
    let parsed = OpaqueToken::parse_kind(TokenKind::Ticket, &t.ticket).unwrap();
    assert_eq!(parsed.session_id, g.session_id);
    consume_ticket(&db, &g.session_id, &parsed.hash(), 1001).unwrap();
    assert_eq!(
        consume_ticket(&db, &g.session_id, &parsed.hash(), 1002).unwrap_err(),
        AuthError::InvalidToken,
        "single use"
    );
    let late = issue_ticket(&db, user(), &g.session_id, 2000, [5; 32]).unwrap();
    let late = OpaqueToken::parse_kind(TokenKind::Ticket, &late.ticket).unwrap();
    assert_eq!(
        consume_ticket(&db, &g.session_id, &late.hash(), 2000 + TICKET_TTL_MS).unwrap_err(),
        AuthError::InvalidToken,
        "expired"
    );
    // A ticket names its session: another session cannot take it.
    let other = login(&db, 2, 3000);
    let t = issue_ticket(&db, user(), &g.session_id, 3000, [6; 32]).unwrap();
    let t = OpaqueToken::parse_kind(TokenKind::Ticket, &t.ticket).unwrap();
    assert!(consume_ticket(&db, &other.session_id, &t.hash(), 3001).is_err());
    assert!(
        consume_ticket(&db, &g.session_id, &t.hash(), 3001).is_err(),
        "a failed attempt used it up"
    );
}

#[test]
fn sweep_deletes_what_can_no_longer_be_used() {
    let db = store();
    let kept = login(&db, 1, 0);
    let revoked = login(&db, 2, 0);
    let expiring = login(&db, 3, 0);
    let h = hash_of(&kept);
    rotate(&db, &kept.session_id, &h, TTL, 10, [7; 32]).unwrap();
    revoke(&db, &revoked.session_id, 20).unwrap();
    issue_ticket(&db, user(), &kept.session_id, 30, [8; 32]).unwrap();
    issue_ticket(&db, user(), &revoked.session_id, 30, [9; 32]).unwrap();
    let swept = sweep(&db, TTL, TTL).unwrap();
    assert_eq!(
        swept,
        Swept {
            sessions: 2, // revoked, and expiring (its token ran out at TTL)
            refresh_history: 0,
            tickets: 2, // both expired by now
        }
    );
    assert!(authorize(&db, &expiring.session_id, TTL).is_err());
    assert!(authorize(&db, &kept.session_id, TTL).is_ok());
    // The rotated-away hash is kept as long as a refresh token lives.
    assert_eq!(sweep(&db, TTL + 10, TTL).unwrap().refresh_history, 1);
    assert_eq!(sweep(&db, TTL + 11, TTL).unwrap(), Swept::default());
}
