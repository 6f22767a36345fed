//! The `Account` object's rules on rusqlite, with the clock passed in.

use super::*;
use crate::store::sqlite::Sqlite;

fn store() -> Sqlite {
    let db = Sqlite::in_memory().unwrap();
    create_schema(&db).unwrap();
    create_schema(&db).unwrap(); // idempotent
    db
}

fn prehash(c: char) -> Prehash {
    Prehash::parse(&format!("{}A", c.to_string().repeat(42))).unwrap()
}

fn draw(seed: u8) -> Draw {
    Draw {
        user_id: [seed; 10],
        salt: [seed; 16],
        codes: std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)),
    }
}

#[test]
fn register_once_then_log_in() {
    let db = store();
    let who = register(&db, "a@example.com", &prehash('a'), 1000, &draw(1)).unwrap();
    assert_eq!(who.user_id, UserId::new(1000, [1; 10]));
    assert_eq!(who.recovery_codes.as_ref().map(Vec::len), Some(CODE_COUNT));
    assert_eq!(
        register(&db, "a@example.com", &prehash('b'), 2000, &draw(2)).unwrap_err(),
        AuthError::EmailTaken
    );
    let again = login(&db, &prehash('a'), 3000).unwrap();
    assert_eq!((again.user_id, again.recovery_codes), (who.user_id, None));
    assert_eq!(
        login(&db, &prehash('b'), 3000).unwrap_err(),
        AuthError::InvalidCredentials
    );
}

#[test]
fn wrong_passwords_back_off_and_a_success_clears_it() {
    let db = store();
    register(&db, "a@example.com", &prehash('a'), 0, &draw(1)).unwrap();
    for _ in 0..lockout::PER_EMAIL.free_failures {
        assert_eq!(
            login(&db, &prehash('x'), 10).unwrap_err(),
            AuthError::InvalidCredentials
        );
    }
    assert!(login(&db, &prehash('a'), 10).is_ok(), "free failures only");
    for _ in 0..=lockout::PER_EMAIL.free_failures {
        let _ = login(&db, &prehash('x'), 20);
    }
    // Locked: even the right password waits.
    assert_eq!(
        login(&db, &prehash('a'), 21).unwrap_err(),
        AuthError::RateLimited(30)
    );
    assert!(login(&db, &prehash('a'), 20 + 30_000).is_ok());
    assert_eq!(backoff(&db).unwrap().unwrap().failures, 0);
}

#[test]
fn an_unknown_email_fails_like_a_wrong_password() {
    let db = store();
    assert_eq!(
        login(&db, &prehash('a'), 0).unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert_eq!(backoff(&db).unwrap().unwrap().failures, 1);
}

#[test]
fn a_recovery_code_sets_a_new_password_once() {
    let db = store();
    let who = register(&db, "a@example.com", &prehash('a'), 0, &draw(1)).unwrap();
    let codes = who.recovery_codes.unwrap();
    let who2 = recover(&db, &codes[0], &prehash('n'), 10, &[9; 16]).unwrap();
    assert_eq!(who2.user_id, who.user_id);
    assert!(login(&db, &prehash('n'), 20).is_ok());
    assert!(login(&db, &prehash('a'), 20).is_err());
    for bad in [codes[0].as_str(), "not a code", "0000-0000-0000-0000"] {
        assert_eq!(
            recover(&db, bad, &prehash('m'), 30, &[9; 16]).unwrap_err(),
            AuthError::InvalidCredentials,
            "{bad}"
        );
    }
    // The old password above, then the three codes.
    assert_eq!(backoff(&db).unwrap().unwrap().failures, 4);
    // A new set replaces the old one.
    let fresh = replace_codes(&db, &prehash('n'), 40, &draw(3)).unwrap();
    let fresh = fresh.recovery_codes.unwrap();
    assert!(recover(&db, &codes[1], &prehash('m'), 50, &[9; 16]).is_err());
    assert!(recover(&db, &fresh[1], &prehash('m'), 50, &[9; 16]).is_ok());
}

#[test]
fn change_password_and_delete_check_the_password_first() {
    let db = store();
    register(&db, "a@example.com", &prehash('a'), 0, &draw(1)).unwrap();
    assert!(change_password(&db, &prehash('x'), &prehash('b'), 1, &[2; 16]).is_err());
    change_password(&db, &prehash('a'), &prehash('b'), 2, &[2; 16]).unwrap();
    assert!(login(&db, &prehash('b'), 3).is_ok());
    assert!(delete(&db, &prehash('a'), 4).is_err());
    delete(&db, &prehash('b'), 5).unwrap();
    assert!(backoff(&db).unwrap().is_none());
    assert_eq!(recovery::remaining(&db).unwrap(), 0);
    assert_eq!(
        login(&db, &prehash('b'), 6).unwrap_err(),
        AuthError::InvalidCredentials
    );
    // The email is free again.
    assert!(register(&db, "a@example.com", &prehash('c'), 7, &draw(4)).is_ok());
}

#[test]
fn an_address_backs_off_after_its_free_failures() {
    let db = store();
    for _ in 0..lockout::PER_IP.free_failures {
        address_check(&db, 0).unwrap();
        address_failed(&db, 0).unwrap();
    }
    address_check(&db, 0).unwrap();
    address_failed(&db, 0).unwrap();
    assert_eq!(
        address_check(&db, 0).unwrap_err(),
        AuthError::RateLimited(30)
    );
    assert!(address_check(&db, 30_000).is_ok());
}

#[test]
fn registrations_from_an_address_are_limited() {
    let db = store();
    let t0 = 10 * limits::HOUR_MS;
    address_registers(&db, 2, t0).unwrap();
    address_registers(&db, 2, t0 + 1).unwrap();
    assert_eq!(
        address_registers(&db, 2, t0 + 2).unwrap_err(),
        AuthError::RateLimited(3600)
    );
}

#[test]
fn the_backoff_row_expires_after_retention_and_its_wait() {
    let db = store();
    assert_eq!(backoff_expiry(&db, 1000).unwrap(), None);
    address_failed(&db, 500).unwrap();
    assert_eq!(backoff_expiry(&db, 1000).unwrap(), Some(1500));
    assert!(!expire_backoff(&db, 1499, 1000).unwrap());
    assert!(expire_backoff(&db, 1500, 1000).unwrap());
    assert!(backoff(&db).unwrap().is_none());
    // A running wait keeps it longer than the retention.
    for _ in 0..=lockout::PER_EMAIL.free_failures {
        let _ = login(&db, &prehash('x'), 0);
    }
    assert_eq!(backoff_expiry(&db, 1000).unwrap(), Some(30_000));
}
