//! The shared store suite: every `Store` implementation must pass these.
//!
//! Each test function takes a `&dyn Store` (or, for the few that reopen or tamper with the
//! database, the [`TestDb`] around it) and runs once per backend: always on SQLite, in a fresh
//! file; on PostgreSQL whenever it is reachable, in a fresh database `sb_test_<random>` that is
//! dropped afterwards. Set `SWITCHBOARD_TEST_DATABASE_URL` to point at another server; with `CI`
//! set, an unreachable PostgreSQL fails the tests instead of skipping them.

// The suite's functions are test code, but clippy only knows `#[test]` functions as such
// (`allow-unwrap-in-tests`); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::Connection;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use switchboard_core::audit::{
    Action, Actor, AuditEvent, AuditRecord, Checkpoint, CheckpointKind, Hash, Link,
};
use switchboard_core::security::Standing;
use switchboard_core::{
    Account, AccountId, DeviceId, DeviceInfo, EndReason, MediaPath, PathTraffic, Role, Session,
    SessionKind, SessionState, SessionStats, Suid, TicketCode, Timestamp, User, UserId,
};
use switchboard_core::{Service, ServiceStatus};
use switchboard_store::{Admission, Check, Counted, Slot, SlotKind};
use switchboard_store::{AuditCursor, AuditQuery};
use switchboard_store::{Camera, NewSnapshot, SnapshotSearch, SnapshotState, StoredDetection};
use switchboard_store::{Cell, CellFile};
use switchboard_store::{Invite, SessionFilter, Store, StoreError, StoredBlob, connect, migrate};
use switchboard_store::{
    NewTaughtMatch, NewTaughtObject, NormalizedBox, Taught, TaughtBlob, TaughtSearch,
};
use switchboard_store::{SecondFactor, SignIn};
use switchboard_store::{Stale, WrappedKey};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh database holding one store, removed when dropped.
struct TestDb {
    url: String,
    store: Arc<dyn Store>,
    /// Keeps the SQLite file's directory alive for the test.
    _dir: Option<TempDir>,
    /// The PostgreSQL server's `postgres` database and the name of ours, to drop on exit.
    pg_cleanup: Option<(sqlx::postgres::PgConnectOptions, String)>,
}

impl TestDb {
    /// A new SQLite file in a directory that does not exist yet (so `connect` must create it).
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("switchboard.db");
        let url = format!("sqlite://{}", path.display());
        let store = connect(&url).await.unwrap();
        TestDb {
            url,
            store,
            _dir: Some(dir),
            pg_cleanup: None,
        }
    }

    /// A new database on the test PostgreSQL server, or `None` (after saying so) when the
    /// server is unreachable outside CI.
    async fn postgres() -> Option<TestDb> {
        let base = std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let admin = sqlx::postgres::PgConnectOptions::from_str(&base)
            .unwrap()
            .database("postgres");
        let reached = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::PgConnection::connect_with(&admin),
        )
        .await;
        let mut conn = match reached {
            Ok(Ok(conn)) => conn,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                if std::env::var_os("CI").is_some() {
                    panic!("PostgreSQL at {base} is unreachable ({why}) but CI requires it");
                }
                // Written past the test harness's output capture, once, so it is seen.
                static NOTICE: std::sync::Once = std::sync::Once::new();
                NOTICE.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED: the PostgreSQL store tests, because {base} is unreachable \
                         ({why}); start it or set SWITCHBOARD_TEST_DATABASE_URL"
                    );
                });
                return None;
            }
        };
        let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = with_database(&base, &name);
        let store = connect(&url).await.unwrap();
        Some(TestDb {
            url,
            store,
            _dir: None,
            pg_cleanup: Some((admin, name)),
        })
    }

    fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Runs a statement straight on the database, behind the store's back.
    async fn raw(&self, sql: &'static str) {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg_cleanup.take() else {
            return;
        };
        // Drop runs outside async context (and maybe while panicking), so clean up on a
        // thread with its own runtime. FORCE ends the store's pooled connections.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect_with(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test database: {e}");
        }
    }
}

/// `url` with its database name replaced, keeping any query parameters.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs each named test against SQLite and PostgreSQL. `store:` tests take `&dyn Store`;
/// `database:` tests take the whole `&TestDb`.
macro_rules! suite {
    (store: [$($store_test:ident),* $(,)?], database: [$($db_test:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $store_test() {
                    let db = super::TestDb::sqlite().await;
                    super::$store_test(db.store()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $db_test() {
                    let db = super::TestDb::sqlite().await;
                    super::$db_test(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $store_test() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$store_test(db.store()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $db_test() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$db_test(&db).await;
                }
            )*
        }
    };
}

suite! {
    store: [
        ping_answers,
        accounts_and_users_round_trip,
        a_taken_username_is_a_conflict_and_creates_nothing,
        look_alike_usernames_are_one_name,
        the_last_admin_stays_while_other_users_remain,
        missing_rows_are_not_found,
        deleting_a_user_keeps_their_sessions_and_cdrs,
        an_invite_creates_a_user_in_its_account_once,
        expired_and_unknown_invites_are_not_found,
        a_taken_username_leaves_the_invite_usable,
        racing_redemptions_of_one_invite_have_one_winner,
        invites_need_an_account_and_a_unique_code,
        revoked_tokens_are_listed_until_they_expire,
        sessions_round_trip,
        timestamps_keep_milliseconds,
        an_open_ticket_cannot_be_reused_until_its_session_ends,
        a_duplicate_session_id_is_a_conflict,
        sessions_are_listed_newest_first_with_filters,
        open_sessions_span_accounts_oldest_first,
        mark_live_only_from_waiting,
        racing_mark_live_has_one_winner,
        device_info_extra_fields_round_trip,
        update_stats_saves_totals_and_ignores_ended_sessions,
        update_stats_many_saves_each_in_one_go_and_skips_ended_and_unknown,
        counters_too_large_to_store_are_refused,
        end_session_writes_exactly_one_cdr,
        racing_end_session_writes_exactly_one_cdr,
        an_expired_ticket_ends_as_an_incomplete_cdr,
        end_session_needs_an_ended_session,
        cdrs_cover_a_half_open_range_oldest_first,
        controls_come_back_in_order_after_a_cursor,
        controls_need_a_session,
        services_register_stop_and_stop_by_node,
        status_rows_are_capped_per_service,
        end_counts_by_reason_and_account,
        operators_and_users_can_be_created_in_existing_accounts,
        prune_removes_expired_tokens_and_old_services,
        cameras_register_and_rotate_tokens_per_account,
        snapshots_are_pending_until_finished_and_searchable,
        search_filters_by_label_camera_and_time,
        old_and_excess_snapshots_are_pruned_oldest_first,
        search_pages_through_many_boxes_per_snapshot,
        near_duplicates_are_discarded_and_counted,
        pinned_snapshots_outlive_retention_until_unpinned,
        cameras_carry_their_live_session,
        leases_are_renewed_taken_over_when_expired_and_released,
        one_of_two_racing_nodes_wins_a_session,
        cells_are_found_by_id_and_permalink,
        cell_files_are_replaced_by_name_and_capped,
        account_limits_round_trip_and_need_an_account,
        places_are_held_until_released_or_their_lease_ends,
        reservations_count_until_their_row_exists,
        racing_admissions_for_the_last_place_have_one_winner,
        usage_counts_what_an_account_holds,
        standing_follows_passwords_second_factors_and_the_account_rule,
        renaming_frees_the_old_name_and_refuses_a_taken_one,
        racing_renames_to_one_name_have_one_winner,
        a_totp_step_is_accepted_once,
        enrolment_is_confirmed_once_with_its_own_secret,
        recovery_codes_work_once_and_go_with_the_second_factor,
        sign_ins_are_listed_touched_and_revoked,
        revoking_other_sign_ins_keeps_one_and_stores_the_rest_revoked,
        security_rows_go_with_their_user,
        audit_chains_append_in_order_and_read_back_filtered_and_paged,
        a_taken_place_in_an_audit_chain_is_a_conflict,
        audit_checkpoints_keys_and_pruning,
        data_keys_are_versioned_per_account_and_rewrapped_at_once,
        plain_and_stale_blobs_are_resealed_once_then_keys_go,
        deleting_an_account_takes_its_keys_and_everything_with_it,
        taught_objects_are_per_account_named_once_and_capped,
        taught_matches_are_newest_first_and_go_with_their_snapshots,
        a_look_through_the_history_runs_once_per_account_at_a_time,
        taught_templates_are_resealed_and_hold_their_key,
    ],
    database: [
        data_survives_a_restart_and_migrations_rerun,
        corrupt_rows_are_errors_not_panics,
        older_users_get_username_keys_at_connect,
    ],
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A fixed instant with whole milliseconds, plus `secs` seconds.
fn at(secs: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + Duration::seconds(secs)
}

/// A fresh random ticket, so tests never collide on one by accident.
fn ticket() -> TicketCode {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTWXYZ";
    let code: String = uuid::Uuid::new_v4().as_bytes()[..8]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    TicketCode::parse(&code).unwrap()
}

fn user(account_id: AccountId, username: &str, role: Role, created_at: Timestamp) -> User {
    User {
        id: UserId::new(),
        account_id,
        username: username.to_owned(),
        password_hash: format!("$argon2id$hash-of-{username}"),
        role,
        created_at,
    }
}

/// Creates an account with an admin named `admin_name`.
async fn account(s: &dyn Store, admin_name: &str) -> (Account, User) {
    let account = Account {
        id: AccountId::new(),
        name: format!("Clinic of {admin_name}"),
        created_at: at(0),
    };
    let admin = user(account.id, admin_name, Role::Admin, at(0));
    s.create_account(&account, &admin).await.unwrap();
    (account, admin)
}

fn session_by(creator: &User, created_at: Timestamp) -> Session {
    Session::new(
        creator.account_id,
        creator.id,
        SessionKind::Video,
        Some("Room 4".to_owned()),
        ticket(),
        created_at,
        std::time::Duration::from_secs(600),
    )
}

/// Stores a new session and returns it.
async fn stored_session(s: &dyn Store, creator: &User, created_at: Timestamp) -> Session {
    let session = session_by(creator, created_at);
    s.insert_session(&session).await.unwrap();
    session
}

fn device() -> DeviceInfo {
    serde_json::from_value(json!({
        "model": "Pixel 9",
        "os": "Android 16",
        "app_version": "2.4.1",
        "battery": 81,
        "cameras": [{"facing": "back", "mp": 50.0}, {"facing": "front", "mp": 10.5}],
        "locale": "de-CH",
        "note": "Ärztin 🩺"
    }))
    .unwrap()
}

/// Takes the session live in memory and in the store.
async fn go_live(s: &dyn Store, session: &mut Session, when: Timestamp) {
    let device_id = DeviceId::new();
    session.go_live(device_id, device(), when).unwrap();
    s.mark_live(session.suid, device_id, &device(), when)
        .await
        .unwrap();
}

/// Ends a session in memory and in the store, returning its CDR.
async fn end(
    s: &dyn Store,
    session: &mut Session,
    reason: EndReason,
    when: Timestamp,
) -> switchboard_core::Cdr {
    session.end(reason, when).unwrap();
    s.end_session(session).await.unwrap()
}

fn is_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

fn is_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound))
}

fn all(states: &[SessionState], limit: u32) -> SessionFilter {
    SessionFilter {
        states: states.to_vec(),
        limit,
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and users
// ---------------------------------------------------------------------------------------------

async fn ping_answers(s: &dyn Store) {
    s.ping().await.unwrap();
}

async fn accounts_and_users_round_trip(s: &dyn Store) {
    let (acct, admin) = account(s, "dr.house").await;
    assert_eq!(s.account(acct.id).await.unwrap(), acct);
    assert_eq!(s.user(admin.id).await.unwrap(), admin);
    assert_eq!(s.user_by_name("dr.house").await.unwrap(), admin);

    for (i, name) in ["wilson", "cuddy"].into_iter().enumerate() {
        let code = format!("invite-{name}");
        s.create_invite(&Invite {
            code: code.clone(),
            account_id: acct.id,
            created_by: admin.id,
            created_at: at(1),
            expires_at: at(3600),
        })
        .await
        .unwrap();
        let member = user(acct.id, name, Role::Member, at(10 + i as i64));
        s.create_user_with_invite(&code, &member, at(5))
            .await
            .unwrap();
    }
    let (_, other_admin) = account(s, "someone.else").await;

    let names: Vec<String> = s
        .list_users(acct.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(
        names,
        ["dr.house", "wilson", "cuddy"],
        "oldest first, own account only"
    );
    assert_eq!(
        s.list_users(other_admin.account_id).await.unwrap(),
        [other_admin]
    );
    assert!(s.list_users(AccountId::new()).await.unwrap().is_empty());
}

async fn a_taken_username_is_a_conflict_and_creates_nothing(s: &dyn Store) {
    account(s, "taken").await;
    let second = Account {
        id: AccountId::new(),
        name: "Second".into(),
        created_at: at(0),
    };
    let clash = user(second.id, "taken", Role::Admin, at(0));
    match s.create_account(&second, &clash).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("username"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(
        is_not_found(s.account(second.id).await),
        "the account was rolled back"
    );
    assert!(is_not_found(s.user(clash.id).await));
}

async fn look_alike_usernames_are_one_name(s: &dyn Store) {
    let (_, alice) = account(s, "alice").await;
    // Another case, a fullwidth form and a Cyrillic "а" all find her...
    for spelling in ["Alice", "ＡＬＩＣＥ", "\u{430}lice"] {
        assert_eq!(s.user_by_name(spelling).await.unwrap(), alice, "{spelling}");
    }
    // ...and none of them can be registered beside her, in a new account or an old one.
    for spelling in ["Alice", "\u{430}lice"] {
        let other = Account {
            id: AccountId::new(),
            name: "Elsewhere".into(),
            created_at: at(0),
        };
        let clash = user(other.id, spelling, Role::Admin, at(0));
        match s.create_account(&other, &clash).await {
            Err(StoreError::Conflict(what)) => assert!(what.contains("username"), "{what}"),
            got => panic!("{spelling}: expected a conflict, got {got:?}"),
        }
        let member = user(alice.account_id, spelling, Role::Member, at(0));
        assert!(matches!(
            s.create_user(&member).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert!(is_not_found(s.user_by_name("alicia").await));
}

async fn the_last_admin_stays_while_other_users_remain(s: &dyn Store) {
    let (acct, admin) = account(s, "sole.admin").await;
    let member = user(acct.id, "sole.member", Role::Member, at(1));
    s.create_user(&member).await.unwrap();
    match s.delete_user(admin.id).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("last admin"), "{what}"),
        got => panic!("expected a conflict, got {got:?}"),
    }
    assert_eq!(s.user(admin.id).await.unwrap(), admin);

    // With a second admin, either may go, but not both: the survivor is the last.
    let second = user(acct.id, "second.admin", Role::Admin, at(2));
    s.create_user(&second).await.unwrap();
    let (a, b) = tokio::join!(s.delete_user(admin.id), s.delete_user(second.id));
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one of two racing admin deletions wins: {a:?} {b:?}"
    );
    let admins = s
        .list_users(acct.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.role == Role::Admin)
        .count();
    assert_eq!(admins, 1);

    // Members go freely; then the last admin, now alone, may go too.
    s.delete_user(member.id).await.unwrap();
    let survivor = if a.is_ok() { second.id } else { admin.id };
    s.delete_user(survivor).await.unwrap();
    assert!(s.list_users(acct.id).await.unwrap().is_empty());
}

async fn missing_rows_are_not_found(s: &dyn Store) {
    let (_, admin) = account(s, "present").await;
    assert!(is_not_found(s.account(AccountId::new()).await));
    assert!(is_not_found(s.user(UserId::new()).await));
    assert!(is_not_found(s.user_by_name("absent").await));
    assert!(is_not_found(s.delete_user(UserId::new()).await));
    assert!(is_not_found(s.session(Suid::new()).await));
    assert!(is_not_found(s.session_by_ticket(&ticket()).await));
    let ghost = session_by(&admin, at(0));
    assert!(is_not_found(
        s.mark_live(ghost.suid, DeviceId::new(), &device(), at(1))
            .await
    ));
    assert!(is_not_found(
        s.update_stats(ghost.suid, &SessionStats::default()).await
    ));
    let mut ended_ghost = ghost.clone();
    ended_ghost.end(EndReason::EndedByUser, at(2)).unwrap();
    assert!(is_not_found(s.end_session(&ended_ghost).await));
    assert!(s.cdrs(at(0), at(100)).await.unwrap().is_empty());
    assert!(
        s.controls_after(ghost.suid, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn deleting_a_user_keeps_their_sessions_and_cdrs(s: &dyn Store) {
    let (acct, admin) = account(s, "leaver").await;
    let mut done = stored_session(s, &admin, at(0)).await;
    let cdr = end(s, &mut done, EndReason::EndedByUser, at(60)).await;
    let open = stored_session(s, &admin, at(10)).await;

    s.delete_user(admin.id).await.unwrap();
    assert!(is_not_found(s.user(admin.id).await));
    assert!(
        is_not_found(s.delete_user(admin.id).await),
        "deleting twice"
    );
    assert_eq!(s.session(open.suid).await.unwrap(), open);
    assert_eq!(s.session(done.suid).await.unwrap(), done);
    assert_eq!(s.cdrs(at(0), at(100)).await.unwrap(), [cdr]);
    assert_eq!(
        s.list_sessions(acct.id, &SessionFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// Invites
// ---------------------------------------------------------------------------------------------

fn invite(account_id: AccountId, created_by: UserId, code: &str, expires_at: Timestamp) -> Invite {
    Invite {
        code: code.to_owned(),
        account_id,
        created_by,
        created_at: at(0),
        expires_at,
    }
}

async fn an_invite_creates_a_user_in_its_account_once(s: &dyn Store) {
    let (acct, admin) = account(s, "inviter").await;
    s.create_invite(&invite(acct.id, admin.id, "welcome-1", at(600)))
        .await
        .unwrap();

    // The user's own account id is overridden by the invite's.
    let newcomer = user(AccountId::new(), "newcomer", Role::Member, at(30));
    let created = s
        .create_user_with_invite("welcome-1", &newcomer, at(30))
        .await
        .unwrap();
    assert_eq!(created.account_id, acct.id);
    assert_eq!(created.id, newcomer.id);
    assert_eq!(created.role, Role::Member);
    assert_eq!(s.user(newcomer.id).await.unwrap(), created);

    let again = user(AccountId::new(), "second.try", Role::Member, at(31));
    assert!(
        is_not_found(s.create_user_with_invite("welcome-1", &again, at(31)).await),
        "an invite works once"
    );
    assert!(is_not_found(s.user_by_name("second.try").await));
}

async fn expired_and_unknown_invites_are_not_found(s: &dyn Store) {
    let (acct, admin) = account(s, "inviter").await;
    s.create_invite(&invite(acct.id, admin.id, "short-lived", at(600)))
        .await
        .unwrap();
    let late = user(acct.id, "late", Role::Member, at(600));
    assert!(
        is_not_found(
            s.create_user_with_invite("short-lived", &late, at(600))
                .await
        ),
        "expired at exactly expires_at"
    );
    assert!(is_not_found(
        s.create_user_with_invite("no-such-code", &late, at(1))
            .await
    ));
    assert!(is_not_found(s.user(late.id).await));
    // A millisecond before expiry it still works.
    s.create_user_with_invite("short-lived", &late, at(600) - Duration::milliseconds(1))
        .await
        .unwrap();
}

async fn a_taken_username_leaves_the_invite_usable(s: &dyn Store) {
    let (acct, admin) = account(s, "inviter").await;
    s.create_invite(&invite(acct.id, admin.id, "code", at(600)))
        .await
        .unwrap();
    let clash = user(acct.id, "inviter", Role::Member, at(1));
    match s.create_user_with_invite("code", &clash, at(1)).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("username"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let fine = user(acct.id, "fine", Role::Member, at(2));
    s.create_user_with_invite("code", &fine, at(2))
        .await
        .unwrap();
}

async fn racing_redemptions_of_one_invite_have_one_winner(s: &dyn Store) {
    let (acct, admin) = account(s, "inviter").await;
    s.create_invite(&invite(acct.id, admin.id, "contested", at(600)))
        .await
        .unwrap();
    let a = user(acct.id, "racer.a", Role::Member, at(1));
    let b = user(acct.id, "racer.b", Role::Member, at(1));
    let (ra, rb) = tokio::join!(
        s.create_user_with_invite("contested", &a, at(1)),
        s.create_user_with_invite("contested", &b, at(1)),
    );
    let winners = [ra.is_ok(), rb.is_ok()]
        .into_iter()
        .filter(|ok| *ok)
        .count();
    assert_eq!(winners, 1, "{ra:?} {rb:?}");
    assert!(is_not_found(if ra.is_ok() { rb } else { ra }));
    assert_eq!(s.list_users(acct.id).await.unwrap().len(), 2);
}

async fn invites_need_an_account_and_a_unique_code(s: &dyn Store) {
    let (acct, admin) = account(s, "inviter").await;
    assert!(is_not_found(
        s.create_invite(&invite(AccountId::new(), admin.id, "orphan", at(600)))
            .await
    ));
    s.create_invite(&invite(acct.id, admin.id, "dup", at(600)))
        .await
        .unwrap();
    assert!(is_conflict(
        s.create_invite(&invite(acct.id, admin.id, "dup", at(900)))
            .await
    ));
}

// ---------------------------------------------------------------------------------------------
// Revoked tokens
// ---------------------------------------------------------------------------------------------

async fn revoked_tokens_are_listed_until_they_expire(s: &dyn Store) {
    assert!(s.revoked_tokens(at(0)).await.unwrap().is_empty());
    s.revoke_token("jti-short", at(100)).await.unwrap();
    s.revoke_token("jti-long", at(1000)).await.unwrap();
    s.revoke_token("jti-long", at(1000)).await.unwrap(); // twice is fine

    let mut listed = s.revoked_tokens(at(50)).await.unwrap();
    listed.sort();
    assert_eq!(listed, ["jti-long", "jti-short"]);
    assert_eq!(
        s.revoked_tokens(at(100)).await.unwrap(),
        ["jti-long"],
        "expired at expires_at"
    );
    assert!(s.revoked_tokens(at(1000)).await.unwrap().is_empty());

    // Revoking again with a later expiry extends it; an earlier one does not shorten it.
    s.revoke_token("jti-short", at(2000)).await.unwrap();
    s.revoke_token("jti-short", at(10)).await.unwrap();
    assert_eq!(s.revoked_tokens(at(1500)).await.unwrap(), ["jti-short"]);
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

async fn sessions_round_trip(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let labelled = stored_session(s, &admin, at(0)).await;
    let mut unlabelled = session_by(&admin, at(1));
    unlabelled.label = None;
    s.insert_session(&unlabelled).await.unwrap();

    for session in [&labelled, &unlabelled] {
        assert_eq!(&s.session(session.suid).await.unwrap(), session);
        assert_eq!(
            &s.session_by_ticket(&session.ticket).await.unwrap(),
            session
        );
    }
    let stored = s.session(labelled.suid).await.unwrap();
    assert_eq!(stored.state, SessionState::Waiting);
    assert_eq!(stored.ticket_expires_at, at(600));
    assert_eq!(stored.device, None);
    assert_eq!(stored.stats, SessionStats::default());
}

async fn timestamps_keep_milliseconds(s: &dyn Store) {
    let (_, admin) = account(s, "precise").await;
    // 123.456789 ms past the second: the store keeps 123 ms.
    let fine = at(0) + Duration::nanoseconds(123_456_789);
    let kept = at(0) + Duration::milliseconds(123);
    let mut session = session_by(&admin, fine);
    s.insert_session(&session).await.unwrap();
    let stored = s.session(session.suid).await.unwrap();
    assert_eq!(stored.created_at, kept);
    assert_eq!(stored.ticket_expires_at, kept + Duration::seconds(600));

    let live_at = at(7) + Duration::microseconds(999_999);
    session.go_live(DeviceId::new(), device(), live_at).unwrap();
    s.mark_live(session.suid, session.device_id.unwrap(), &device(), live_at)
        .await
        .unwrap();
    assert_eq!(
        s.session(session.suid).await.unwrap().live_at,
        Some(at(7) + Duration::milliseconds(999))
    );

    let control = s
        .insert_control(session.suid, "torch", &json!(null), admin.id, fine)
        .await
        .unwrap();
    assert_eq!(
        control.sent_at, kept,
        "the returned control is what is stored"
    );
    assert_eq!(
        s.controls_after(session.suid, 0, 1).await.unwrap(),
        [control]
    );

    // Far from the epoch in both directions.
    let ancient = DateTime::from_timestamp_millis(-86_400_000 * 365 * 50 + 7).unwrap();
    let future =
        Utc.with_ymd_and_hms(2999, 12, 31, 23, 59, 59).unwrap() + Duration::milliseconds(1);
    s.revoke_token("old", ancient).await.unwrap();
    s.revoke_token("new", future).await.unwrap();
    assert_eq!(
        s.revoked_tokens(future - Duration::milliseconds(1))
            .await
            .unwrap(),
        ["new"]
    );
    let mut both = s
        .revoked_tokens(ancient - Duration::milliseconds(1))
        .await
        .unwrap();
    both.sort();
    assert_eq!(both, ["new", "old"]);
}

async fn an_open_ticket_cannot_be_reused_until_its_session_ends(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut first = stored_session(s, &admin, at(0)).await;
    let mut second = session_by(&admin, at(1));
    second.ticket = first.ticket.clone();
    match s.insert_session(&second).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("ticket"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(is_not_found(s.session(second.suid).await));

    // Live still holds the ticket.
    go_live(s, &mut first, at(2)).await;
    assert!(is_conflict(s.insert_session(&second).await));

    // Once the first session ended, the code may be drawn again, and lookups find the open one.
    end(s, &mut first, EndReason::EndedByUser, at(3)).await;
    assert_eq!(s.session_by_ticket(&first.ticket).await.unwrap(), first);
    s.insert_session(&second).await.unwrap();
    assert_eq!(s.session_by_ticket(&first.ticket).await.unwrap(), second);
    // With both ended, the newest one.
    end(s, &mut second, EndReason::TicketExpired, at(4)).await;
    assert_eq!(s.session_by_ticket(&first.ticket).await.unwrap(), second);
}

async fn a_duplicate_session_id_is_a_conflict(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let first = stored_session(s, &admin, at(0)).await;
    let mut copy = first.clone();
    copy.ticket = ticket();
    assert!(is_conflict(s.insert_session(&copy).await));
    assert_eq!(s.session(first.suid).await.unwrap(), first);
}

async fn sessions_are_listed_newest_first_with_filters(s: &dyn Store) {
    let (acct, admin) = account(s, "lister").await;
    let (other_acct, other_admin) = account(s, "neighbour").await;
    // Created out of order on purpose: listing must sort by creation time, not insertion.
    let waiting = stored_session(s, &admin, at(30)).await;
    let mut live = stored_session(s, &admin, at(10)).await;
    let mut ended = stored_session(s, &admin, at(20)).await;
    let oldest = stored_session(s, &admin, at(0)).await;
    stored_session(s, &other_admin, at(15)).await;
    go_live(s, &mut live, at(40)).await;
    end(s, &mut ended, EndReason::NoViewers, at(50)).await;

    let suids = |list: Vec<Session>| list.into_iter().map(|s| s.suid).collect::<Vec<_>>();
    assert_eq!(
        suids(
            s.list_sessions(acct.id, &SessionFilter::default())
                .await
                .unwrap()
        ),
        [waiting.suid, ended.suid, live.suid, oldest.suid]
    );
    assert_eq!(
        s.list_sessions(acct.id, &all(&[SessionState::Live], 100))
            .await
            .unwrap(),
        [live.clone()]
    );
    assert_eq!(
        suids(
            s.list_sessions(
                acct.id,
                &all(&[SessionState::Waiting, SessionState::Live], 100)
            )
            .await
            .unwrap()
        ),
        [waiting.suid, live.suid, oldest.suid]
    );
    assert_eq!(
        suids(
            s.list_sessions(
                acct.id,
                &all(
                    &[
                        SessionState::Ended,
                        SessionState::Waiting,
                        SessionState::Live
                    ],
                    100
                )
            )
            .await
            .unwrap()
        ),
        [waiting.suid, ended.suid, live.suid, oldest.suid]
    );
    assert_eq!(
        s.list_sessions(acct.id, &all(&[SessionState::Ended], 100))
            .await
            .unwrap(),
        [ended.clone()]
    );
    assert_eq!(
        suids(s.list_sessions(acct.id, &all(&[], 2)).await.unwrap()),
        [waiting.suid, ended.suid],
        "limit keeps the newest"
    );
    assert!(
        s.list_sessions(acct.id, &all(&[], 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_sessions(other_acct.id, &all(&[], 100))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.list_sessions(AccountId::new(), &SessionFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn open_sessions_span_accounts_oldest_first(s: &dyn Store) {
    let (_, a) = account(s, "first").await;
    let (_, b) = account(s, "second").await;
    let mut live = stored_session(s, &a, at(5)).await;
    let waiting = stored_session(s, &b, at(1)).await;
    let mut ended = stored_session(s, &a, at(0)).await;
    go_live(s, &mut live, at(6)).await;
    end(s, &mut ended, EndReason::EndedByUser, at(7)).await;
    assert_eq!(
        s.open_sessions().await.unwrap(),
        [waiting.clone(), live.clone()]
    );
    assert_eq!(
        s.open_session_ids().await.unwrap(),
        [waiting.suid, live.suid],
        "the ids alone, in the same order"
    );
}

async fn mark_live_only_from_waiting(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    go_live(s, &mut session, at(20)).await;
    let stored = s.session(session.suid).await.unwrap();
    assert_eq!(stored, session);
    assert_eq!(stored.state, SessionState::Live);
    assert_eq!(stored.live_at, Some(at(20)));
    assert_eq!(stored.device, Some(device()));

    match s
        .mark_live(
            session.suid,
            DeviceId::new(),
            &DeviceInfo::default(),
            at(21),
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a second device must not take over: {other:?}"),
    }
    assert_eq!(s.session(session.suid).await.unwrap(), session, "unchanged");

    let mut ended = stored_session(s, &admin, at(1)).await;
    end(s, &mut ended, EndReason::TicketExpired, at(601)).await;
    assert!(is_conflict(
        s.mark_live(ended.suid, DeviceId::new(), &device(), at(602))
            .await
    ));
}

async fn racing_mark_live_has_one_winner(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let session = stored_session(s, &admin, at(0)).await;
    let (one, two) = (DeviceId::new(), DeviceId::new());
    let info = device();
    let (r1, r2) = tokio::join!(
        s.mark_live(session.suid, one, &info, at(1)),
        s.mark_live(session.suid, two, &info, at(1)),
    );
    assert!(r1.is_ok() != r2.is_ok(), "{r1:?} {r2:?}");
    assert!(is_conflict(if r1.is_ok() { r2 } else { r1 }));
    let winner = s.session(session.suid).await.unwrap().device_id;
    assert!(winner == Some(one) || winner == Some(two));
}

async fn device_info_extra_fields_round_trip(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    go_live(s, &mut session, at(1)).await;
    let stored = s.session(session.suid).await.unwrap().device.unwrap();
    assert_eq!(stored.model.as_deref(), Some("Pixel 9"));
    assert_eq!(stored.extra["battery"], 81);
    assert_eq!(stored.extra["cameras"][1]["mp"], 10.5);
    assert_eq!(stored.extra["note"], "Ärztin 🩺");
    assert_eq!(stored, device());

    let cdr = end(s, &mut session, EndReason::EndedByUser, at(2)).await;
    assert_eq!(cdr.device, Some(device()));
    assert_eq!(
        s.cdrs(at(0), at(3)).await.unwrap()[0].device,
        Some(device())
    );
}

async fn update_stats_saves_totals_and_ignores_ended_sessions(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    go_live(s, &mut session, at(1)).await;
    let stats = SessionStats {
        frames: 1_234_567,
        bytes: 9_876_543_210,
        peak_viewers: 7,
        viewer_seconds: 1234.567,
        last_frame_at: Some(at(59) + Duration::milliseconds(250)),
        jpeg_bytes_out: 19_753_086_420,
        webrtc: PathTraffic {
            frames_in: 54_000,
            bytes_in: 3_000_000_000,
            bytes_out: 21_000_000_000,
        },
    };
    s.update_stats(session.suid, &stats).await.unwrap();
    assert_eq!(s.session(session.suid).await.unwrap().stats, stats);

    session.stats = stats.clone();
    end(s, &mut session, EndReason::DeviceIdle, at(60)).await;
    let late = SessionStats {
        frames: 1,
        ..SessionStats::default()
    };
    s.update_stats(session.suid, &late).await.unwrap();
    assert_eq!(
        s.session(session.suid).await.unwrap().stats,
        stats,
        "ended totals are final"
    );
}

async fn update_stats_many_saves_each_in_one_go_and_skips_ended_and_unknown(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let first = stored_session(s, &admin, at(0)).await;
    let mut ended = stored_session(s, &admin, at(1)).await;
    let third = stored_session(s, &admin, at(2)).await;
    end(s, &mut ended, EndReason::EndedByUser, at(3)).await;
    let totals = |frames: u64| SessionStats {
        frames,
        bytes: frames * 1000,
        peak_viewers: 1,
        viewer_seconds: frames as f64 / 2.0,
        last_frame_at: Some(at(4)),
        jpeg_bytes_out: frames * 3000,
        webrtc: PathTraffic {
            frames_in: frames,
            bytes_in: frames * 500,
            bytes_out: frames * 1500,
        },
    };
    // Never stored.
    let ghost = session_by(&admin, at(0));
    s.update_stats_many(&[
        (first.suid, totals(10)),
        (ended.suid, totals(20)),
        (ghost.suid, totals(30)),
        (third.suid, totals(40)),
    ])
    .await
    .unwrap();
    assert_eq!(s.session(first.suid).await.unwrap().stats, totals(10));
    assert_eq!(s.session(third.suid).await.unwrap().stats, totals(40));
    assert_eq!(
        s.session(ended.suid).await.unwrap().stats,
        ended.stats,
        "ended totals are final"
    );
    assert!(matches!(
        s.session(ghost.suid).await,
        Err(StoreError::NotFound)
    ));
    s.update_stats_many(&[]).await.unwrap();
}

async fn counters_too_large_to_store_are_refused(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let session = stored_session(s, &admin, at(0)).await;
    let huge = SessionStats {
        bytes: u64::MAX,
        ..SessionStats::default()
    };
    assert!(matches!(
        s.update_stats(session.suid, &huge).await,
        Err(StoreError::Other(_))
    ));
    let largest = SessionStats {
        bytes: i64::MAX as u64,
        peak_viewers: u32::MAX,
        ..SessionStats::default()
    };
    s.update_stats(session.suid, &largest).await.unwrap();
    assert_eq!(s.session(session.suid).await.unwrap().stats, largest);
}

// ---------------------------------------------------------------------------------------------
// Ending sessions and CDRs
// ---------------------------------------------------------------------------------------------

async fn end_session_writes_exactly_one_cdr(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    go_live(s, &mut session, at(30)).await;
    session.stats = SessionStats {
        frames: 900,
        bytes: 45_000_000,
        peak_viewers: 3,
        viewer_seconds: 150.5,
        last_frame_at: Some(at(89)),
        jpeg_bytes_out: 90_000_000,
        webrtc: PathTraffic {
            frames_in: 1800,
            bytes_in: 7_000_000,
            bytes_out: 21_000_000,
        },
    };
    let cdr = end(s, &mut session, EndReason::EndedByUser, at(90)).await;
    assert_eq!(cdr.suid, session.suid);
    assert_eq!(cdr.paths, vec![MediaPath::Jpeg, MediaPath::Webrtc]);
    assert_eq!(cdr.traffic, session.stats.traffic());
    assert_eq!(cdr.duration_seconds, 60.0);
    assert_eq!(cdr.frames, 900);
    assert_eq!(cdr.peak_viewers, 3);
    assert_eq!(cdr.end_reason, EndReason::EndedByUser);
    assert!(!cdr.incomplete);
    assert_eq!(
        s.cdrs(at(0), at(91)).await.unwrap(),
        std::slice::from_ref(&cdr)
    );

    let stored = s.session(session.suid).await.unwrap();
    assert_eq!(
        stored, session,
        "the row takes the ended session's state and totals"
    );

    // Ending again (another node, another reason) conflicts and writes no second CDR.
    let mut again = session.clone();
    again.state = SessionState::Live;
    again.end(EndReason::NoViewers, at(95)).unwrap();
    match s.end_session(&again).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.cdrs(at(0), at(100)).await.unwrap(), [cdr]);
    assert_eq!(
        s.session(session.suid).await.unwrap().end_reason,
        Some(EndReason::EndedByUser)
    );
}

async fn racing_end_session_writes_exactly_one_cdr(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    go_live(s, &mut session, at(1)).await;
    let mut by_user = session.clone();
    by_user.end(EndReason::EndedByUser, at(10)).unwrap();
    let mut by_timer = session.clone();
    by_timer.end(EndReason::MaxLifetime, at(10)).unwrap();
    let (a, b) = tokio::join!(s.end_session(&by_user), s.end_session(&by_timer));
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    let (winner, loser) = if a.is_ok() { (a, b) } else { (b, a) };
    assert!(is_conflict(loser));
    assert_eq!(s.cdrs(at(0), at(11)).await.unwrap(), [winner.unwrap()]);
}

async fn an_expired_ticket_ends_as_an_incomplete_cdr(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    let cdr = end(s, &mut session, EndReason::TicketExpired, at(600)).await;
    assert!(cdr.incomplete);
    assert_eq!(cdr.duration_seconds, 0.0);
    assert_eq!(cdr.live_at, None);
    assert_eq!(cdr.device, None);
    assert_eq!(cdr.label.as_deref(), Some("Room 4"));
    assert_eq!(s.cdrs(at(600), at(601)).await.unwrap(), [cdr]);
    assert_eq!(s.session(session.suid).await.unwrap(), session);
}

async fn end_session_needs_an_ended_session(s: &dyn Store) {
    let (_, admin) = account(s, "creator").await;
    let session = stored_session(s, &admin, at(0)).await;
    assert!(matches!(
        s.end_session(&session).await,
        Err(StoreError::Other(_))
    ));
    assert_eq!(
        s.session(session.suid).await.unwrap().state,
        SessionState::Waiting
    );
    assert!(s.cdrs(at(0), at(1000)).await.unwrap().is_empty());
}

async fn cdrs_cover_a_half_open_range_oldest_first(s: &dyn Store) {
    let (_, admin) = account(s, "reporter").await;
    let mut ended_at = Vec::new();
    // Ended out of creation order, to check the order is by end time.
    for (created, ends) in [(0, 300), (10, 100), (20, 200), (30, 400)] {
        let mut session = stored_session(s, &admin, at(created)).await;
        end(s, &mut session, EndReason::EndedByUser, at(ends)).await;
        ended_at.push(at(ends));
    }
    let ends =
        |cdrs: Vec<switchboard_core::Cdr>| cdrs.into_iter().map(|c| c.ended_at).collect::<Vec<_>>();
    assert_eq!(
        ends(s.cdrs(at(100), at(400)).await.unwrap()),
        [at(100), at(200), at(300)]
    );
    assert_eq!(
        ends(s.cdrs(at(0), at(1000)).await.unwrap()),
        [at(100), at(200), at(300), at(400)]
    );
    assert_eq!(
        ends(
            s.cdrs(
                at(100) + Duration::milliseconds(1),
                at(300) + Duration::milliseconds(1)
            )
            .await
            .unwrap()
        ),
        [at(200), at(300)]
    );
    assert!(s.cdrs(at(400), at(400)).await.unwrap().is_empty());
    assert!(s.cdrs(at(500), at(100)).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------

async fn controls_come_back_in_order_after_a_cursor(s: &dyn Store) {
    let (_, admin) = account(s, "viewer").await;
    let one = stored_session(s, &admin, at(0)).await;
    let other = stored_session(s, &admin, at(1)).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let args = json!({"step": i, "nested": {"list": [1, 2.5, "three", null, true]}});
        let control = s
            .insert_control(one.suid, "switch_camera", &args, admin.id, at(10 + i))
            .await
            .unwrap();
        assert_eq!(control.args, args);
        assert_eq!(control.suid, one.suid);
        sent.push(control);
        // Controls of another session interleave and must not show up.
        s.insert_control(
            other.suid,
            "torch",
            &json!({"on": true}),
            admin.id,
            at(10 + i),
        )
        .await
        .unwrap();
    }
    assert!(sent.windows(2).all(|w| w[0].id < w[1].id), "ids increase");

    assert_eq!(s.controls_after(one.suid, 0, 100).await.unwrap(), sent);
    assert_eq!(
        s.controls_after(one.suid, sent[1].id, 100).await.unwrap(),
        sent[2..]
    );
    assert_eq!(
        s.controls_after(one.suid, sent[1].id, 2).await.unwrap(),
        sent[2..4]
    );
    assert!(
        s.controls_after(one.suid, sent[4].id, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.controls_after(one.suid, 0, 0).await.unwrap().is_empty());
    assert_eq!(s.controls_after(other.suid, 0, 100).await.unwrap().len(), 5);

    let bare = s
        .insert_control(
            one.suid,
            "message",
            &json!("plain string"),
            admin.id,
            at(20),
        )
        .await
        .unwrap();
    assert_eq!(
        s.controls_after(one.suid, sent[4].id, 10).await.unwrap(),
        [bare]
    );
}

async fn controls_need_a_session(s: &dyn Store) {
    let (_, admin) = account(s, "viewer").await;
    assert!(is_not_found(
        s.insert_control(Suid::new(), "torch", &json!({}), admin.id, at(0))
            .await
    ));
}

// ---------------------------------------------------------------------------------------------
// The database itself
// ---------------------------------------------------------------------------------------------

async fn data_survives_a_restart_and_migrations_rerun(db: &TestDb) {
    let s = db.store();
    let (acct, admin) = account(s, "persistent").await;
    let mut session = stored_session(s, &admin, at(0)).await;
    go_live(s, &mut session, at(1)).await;
    let control = s
        .insert_control(session.suid, "torch", &json!({"on": true}), admin.id, at(2))
        .await
        .unwrap();

    // A second process (or the same one after a restart) opens the same database: migrations
    // run again without error, and everything is there.
    migrate(&db.url).await.unwrap();
    let reopened = connect(&db.url).await.unwrap();
    assert_eq!(reopened.account(acct.id).await.unwrap(), acct);
    assert_eq!(reopened.user_by_name("persistent").await.unwrap(), admin);
    assert_eq!(reopened.open_sessions().await.unwrap(), [session.clone()]);
    assert_eq!(
        reopened.controls_after(session.suid, 0, 10).await.unwrap(),
        std::slice::from_ref(&control)
    );

    // Both handles work on the same data, and ids keep increasing across them.
    let next = reopened
        .insert_control(
            session.suid,
            "torch",
            &json!({"on": false}),
            admin.id,
            at(3),
        )
        .await
        .unwrap();
    assert!(next.id > control.id);
    let cdr = end(&*reopened, &mut session, EndReason::EndedByUser, at(4)).await;
    assert_eq!(s.cdrs(at(0), at(5)).await.unwrap(), [cdr]);
}

async fn corrupt_rows_are_errors_not_panics(db: &TestDb) {
    let s = db.store();
    let (_, admin) = account(s, "victim").await;
    let session = stored_session(s, &admin, at(0)).await;
    s.insert_control(session.suid, "torch", &json!({}), admin.id, at(1))
        .await
        .unwrap();

    let other = |r: Result<_, StoreError>, column: &str| match r {
        Err(StoreError::Other(message)) => assert!(message.contains(column), "{message}"),
        other => panic!("expected Other naming {column}, got {other:?}"),
    };
    db.raw("UPDATE controls SET args = '{broken'").await;
    other(
        s.controls_after(session.suid, 0, 10).await.map(drop),
        "args",
    );
    db.raw("UPDATE sessions SET frames = -5").await;
    other(s.session(session.suid).await.map(drop), "frames");
    db.raw("UPDATE sessions SET frames = 0, device = '{not json'")
        .await;
    other(s.open_sessions().await.map(drop), "device");
    db.raw("UPDATE sessions SET device = NULL, ticket = 'lower-case!'")
        .await;
    other(
        s.list_sessions(admin.account_id, &SessionFilter::default())
            .await
            .map(drop),
        "ticket",
    );
    db.raw("UPDATE users SET role = 'emperor'").await;
    other(s.user(admin.id).await.map(drop), "role");
    db.raw("UPDATE users SET role = 'admin', created_at = 9223372036854775807")
        .await;
    other(s.user_by_name("victim").await.map(drop), "created_at");
}

async fn older_users_get_username_keys_at_connect(db: &TestDb) {
    let s = db.store();
    let (acct, elder) = account(s, "elder").await;
    let loner = user(acct.id, "loner", Role::Member, at(1));
    s.create_user(&loner).await.unwrap();
    let twin = user(acct.id, "twin", Role::Member, at(2));
    s.create_user(&twin).await.unwrap();
    // Rows as a release before username keys left them, one of them named like another.
    db.raw("UPDATE users SET username_key = NULL").await;
    db.raw("UPDATE users SET username = 'Elder' WHERE username = 'twin'")
        .await;
    let twin = User {
        username: "Elder".into(),
        ..twin
    };

    let reopened = connect(&db.url).await.unwrap();
    // Keys were filled in: another spelling finds the user.
    assert_eq!(reopened.user_by_name("LONER").await.unwrap(), loner);
    // Of two rows sharing a key one got it; each is still found by its exact name.
    assert_eq!(reopened.user_by_name("elder").await.unwrap(), elder);
    assert_eq!(reopened.user_by_name("Elder").await.unwrap(), twin);
    let by_key = reopened.user_by_name("ELDER").await.unwrap();
    assert!(by_key == elder || by_key == twin, "{by_key:?}");
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused() {
    match connect("mysql://root:secret@localhost/switchboard").await {
        Err(StoreError::Other(message)) => {
            assert!(message.contains("mysql"), "{message}");
            assert!(
                !message.contains("secret"),
                "never echo credentials: {message}"
            );
        }
        Err(other) => panic!("expected Other, got {other:?}"),
        Ok(_) => panic!("expected Other, got a store"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    match connect("postgres://postgres@127.0.0.1:1/none").await {
        Err(StoreError::Unavailable(_)) => {}
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("nothing listens on port 1"),
    }
}

#[tokio::test]
async fn an_in_memory_database_works_across_calls() {
    let s = connect("sqlite::memory:").await.unwrap();
    let (acct, _) = account(&*s, "ephemeral").await;
    // Concurrent calls that would open more connections (each its own empty database) if the
    // pool allowed it.
    let lookups: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.account(acct.id).await })
        })
        .collect();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap().unwrap(), acct);
    }
}

// ---------------------------------------------------------------------------------------------
// Operations: services, status history, reports
// ---------------------------------------------------------------------------------------------

fn service(node: &str, pid: u32, started: Timestamp) -> Service {
    Service {
        id: format!("{node}/server/{pid}/{}", started.timestamp_millis()),
        node: node.into(),
        kind: "server".into(),
        address: "127.0.0.1".into(),
        port: 8080,
        pid,
        started_at: started,
        stopped_at: None,
        running: true,
    }
}

fn sample(service_id: &str, at: Timestamp, sessions: u32) -> ServiceStatus {
    ServiceStatus {
        service_id: service_id.into(),
        at,
        load: 0.5,
        cpu_percent: 12.5,
        memory_percent: 1.25,
        cpu_seconds: 3.0,
        wall_seconds: 60.0,
        virtual_bytes: 1 << 30,
        resident_bytes: 50 << 20,
        sessions,
        viewers: sessions * 2,
        devices: sessions,
        kernels: 0,
    }
}

async fn services_register_stop_and_stop_by_node(s: &dyn Store) {
    let a1 = service("n1", 10, at(0));
    let a2 = service("n1", 11, at(1));
    let b = service("n2", 12, at(2));
    for svc in [&a1, &a2, &b] {
        s.register_service(svc).await.unwrap();
    }
    // Registering again updates in place.
    s.register_service(&a1).await.unwrap();
    assert_eq!(s.services().await.unwrap().len(), 3);
    s.mark_service_stopped(&a2.id, at(5)).await.unwrap();
    assert!(is_not_found(s.mark_service_stopped("nope", at(5)).await));
    assert_eq!(s.mark_node_stopped("n1", at(6)).await.unwrap(), 1);
    let all = s.services().await.unwrap();
    assert_eq!(all[0], b, "running services come first");
    let stopped: Vec<_> = all.iter().filter(|x| !x.running).collect();
    assert_eq!(stopped.len(), 2);
    assert!(
        stopped
            .iter()
            .all(|x| x.node == "n1" && x.stopped_at.is_some())
    );
}

async fn status_rows_are_capped_per_service(s: &dyn Store) {
    let a = service("n1", 10, at(0));
    let b = service("n2", 11, at(0));
    s.register_service(&a).await.unwrap();
    s.register_service(&b).await.unwrap();
    for i in 0..10 {
        s.record_status(&sample(&a.id, at(i), i as u32), 4)
            .await
            .unwrap();
    }
    s.record_status(&sample(&b.id, at(3), 7), 4).await.unwrap();
    let history = s.status_history(&a.id, at(0)).await.unwrap();
    assert_eq!(history.len(), 4, "only the newest 4 are kept");
    assert_eq!(history.first().unwrap().sessions, 6);
    assert_eq!(history.last().unwrap(), &sample(&a.id, at(9), 9));
    assert_eq!(s.status_history(&a.id, at(8)).await.unwrap().len(), 2);
    let latest = s.latest_statuses().await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(
        latest
            .iter()
            .find(|x| x.service_id == a.id)
            .unwrap()
            .sessions,
        9
    );
    assert_eq!(
        latest
            .iter()
            .find(|x| x.service_id == b.id)
            .unwrap()
            .sessions,
        7
    );
}

async fn end_counts_by_reason_and_account(s: &dyn Store) {
    let (_, alice) = account(s, "alice").await;
    let (_, bob) = account(s, "bob").await;
    let mut a1 = stored_session(s, &alice, at(0)).await;
    go_live(s, &mut a1, at(1)).await;
    end(s, &mut a1, EndReason::NoViewers, at(100)).await;
    let mut a2 = stored_session(s, &alice, at(0)).await;
    end(s, &mut a2, EndReason::TicketExpired, at(200)).await;
    let mut b1 = stored_session(s, &bob, at(0)).await;
    end(s, &mut b1, EndReason::TicketExpired, at(300)).await;

    let everyone = s.end_counts(None, at(0)).await.unwrap();
    let expired = everyone
        .iter()
        .find(|c| c.reason == EndReason::TicketExpired)
        .unwrap();
    assert_eq!((expired.count, expired.incomplete), (2, 2));
    let alices = s.end_counts(Some(alice.account_id), at(0)).await.unwrap();
    assert_eq!(alices.iter().map(|c| c.count).sum::<u64>(), 2);
    let recent = s.end_counts(None, at(150)).await.unwrap();
    assert_eq!(recent.iter().map(|c| c.count).sum::<u64>(), 2);
}

async fn operators_and_users_can_be_created_in_existing_accounts(s: &dyn Store) {
    let (acc, admin) = account(s, "admin").await;
    let op = user(acc.id, "operator", Role::Operator, at(5));
    s.create_user(&op).await.unwrap();
    assert_eq!(
        s.user_by_name("operator").await.unwrap().role,
        Role::Operator
    );
    assert!(is_conflict(
        s.create_user(&user(acc.id, "admin", Role::Member, at(6)))
            .await
    ));
    assert!(is_not_found(
        s.create_user(&user(AccountId::new(), "orphan", Role::Member, at(6)))
            .await
    ));
    let users = s.all_users().await.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].id, admin.id);
    assert_eq!(s.accounts().await.unwrap(), vec![acc]);
}

async fn prune_removes_expired_tokens_and_old_services(s: &dyn Store) {
    s.revoke_token("old", at(10)).await.unwrap();
    s.revoke_token("fresh", at(1000)).await.unwrap();
    let gone = service("n1", 1, at(0));
    let alive = service("n1", 2, at(1));
    s.register_service(&gone).await.unwrap();
    s.register_service(&alive).await.unwrap();
    s.record_status(&sample(&gone.id, at(1), 1), 10)
        .await
        .unwrap();
    s.mark_service_stopped(&gone.id, at(20)).await.unwrap();
    let pruned = s.prune(at(100), at(50)).await.unwrap();
    assert_eq!((pruned.revoked_tokens, pruned.services), (1, 1));
    assert_eq!(
        s.revoked_tokens(at(0)).await.unwrap(),
        vec!["fresh".to_owned()]
    );
    assert_eq!(s.services().await.unwrap(), vec![alive]);
    assert!(s.status_history(&gone.id, at(0)).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Cameras
// ---------------------------------------------------------------------------------------------

async fn camera(s: &dyn Store, account_id: AccountId, name: &str, created: Timestamp) -> Camera {
    let camera = Camera {
        id: uuid::Uuid::new_v4(),
        account_id,
        name: name.to_owned(),
        created_at: created,
        last_seen_at: None,
        uploads: 0,
        last_snapshot_id: None,
        last_snapshot_at: None,
        snapshots_last_hour: 0,
        deduplicated: 0,
        discarded: 0,
        live_suid: None,
        only_person: false,
    };
    s.create_camera(&camera, "hash-1").await.unwrap();
    camera
}

fn snapshot(camera: &Camera, taken: Timestamp, bytes: usize) -> NewSnapshot {
    NewSnapshot {
        id: uuid::Uuid::new_v4(),
        camera_id: camera.id,
        account_id: camera.account_id,
        taken_at: taken,
        received_at: taken + Duration::seconds(1),
        jpeg: vec![0xFF; bytes],
        size: bytes as u64,
        key_version: None,
    }
}

/// Bytes stored plain, as an earlier release (or a node with encryption off) stores them.
fn plain(bytes: &[u8]) -> StoredBlob {
    StoredBlob {
        bytes: bytes.to_vec(),
        key_version: None,
    }
}

fn detection(label: &str, confidence: f64) -> StoredDetection {
    StoredDetection {
        label: label.to_owned(),
        confidence,
        x: 0.25,
        y: 0.5,
        w: 0.125,
        h: 0.375,
    }
}

fn search(account_id: AccountId, labels: &[&str]) -> SnapshotSearch {
    SnapshotSearch {
        account_id,
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        camera_id: None,
        since: None,
        until: None,
        limit: 10,
    }
}

async fn cameras_register_and_rotate_tokens_per_account(s: &dyn Store) {
    let (a, _) = account(s, "cam-a").await;
    let (b, _) = account(s, "cam-b").await;
    let kitchen = camera(s, a.id, "kitchen", at(1)).await;
    let hall = camera(s, a.id, "hall", at(2)).await;
    camera(s, b.id, "garage", at(3)).await;

    let listed = s.cameras(a.id).await.unwrap();
    assert_eq!(listed, vec![kitchen.clone(), hall.clone()]);
    assert_eq!(s.camera(a.id, kitchen.id).await.unwrap(), kitchen);
    assert!(is_not_found(s.camera(b.id, kitchen.id).await));
    assert!(is_conflict(s.create_camera(&kitchen, "x").await));

    assert_eq!(
        s.camera_access(kitchen.id).await.unwrap(),
        switchboard_store::CameraAccess {
            account_id: a.id,
            token_hash: "hash-1".to_owned(),
            only_person: false,
            live_suid: None,
        }
    );
    s.set_camera_token(a.id, kitchen.id, "hash-2")
        .await
        .unwrap();
    assert_eq!(
        s.camera_access(kitchen.id).await.unwrap().token_hash,
        "hash-2"
    );
    s.update_camera(a.id, kitchen.id, Some("pantry"), Some(true))
        .await
        .unwrap();
    let renamed = s.camera(a.id, kitchen.id).await.unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.only_person),
        ("pantry", true)
    );
    assert!(s.camera_access(kitchen.id).await.unwrap().only_person);
    s.update_camera(a.id, kitchen.id, None, Some(false))
        .await
        .unwrap();
    assert_eq!(s.camera(a.id, kitchen.id).await.unwrap().name, "pantry");
    assert!(is_not_found(
        s.update_camera(b.id, kitchen.id, Some("x"), None).await
    ));
    assert!(is_not_found(
        s.set_camera_token(b.id, kitchen.id, "h").await
    ));
    assert!(is_not_found(s.camera_access(uuid::Uuid::new_v4()).await));
}

async fn snapshots_are_pending_until_finished_and_searchable(s: &dyn Store) {
    let (a, _) = account(s, "snap-a").await;
    let (b, _) = account(s, "snap-b").await;
    let cam = camera(s, a.id, "kitchen", at(0)).await;
    let first = snapshot(&cam, at(10), 100);
    let second = snapshot(&cam, at(20), 200);
    s.insert_snapshot(&first).await.unwrap();
    s.insert_snapshot(&second).await.unwrap();

    let listed = s.camera(a.id, cam.id).await.unwrap();
    assert_eq!(listed.uploads, 2);
    assert_eq!(listed.last_seen_at, Some(at(21)));
    assert_eq!(listed.last_snapshot_id, Some(second.id));
    assert_eq!(listed.last_snapshot_at, Some(at(20)));

    let pending = s.pending_snapshots(10).await.unwrap();
    assert_eq!(
        pending.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![first.id, second.id]
    );
    assert_eq!(pending[0].jpeg, first.jpeg);
    assert_eq!(
        s.snapshot_state(a.id, first.id).await.unwrap(),
        SnapshotState::Pending
    );

    let dets = vec![
        detection("cup", 0.9),
        detection("cup", 0.6),
        detection("person", 0.8),
    ];
    s.finish_snapshot(first.id, SnapshotState::Done, &dets, None, None)
        .await
        .unwrap();
    // Finishing again replaces the set rather than adding to it.
    s.finish_snapshot(first.id, SnapshotState::Done, &dets, None, None)
        .await
        .unwrap();
    assert_eq!(
        s.snapshot_detections(a.id, first.id).await.unwrap().len(),
        3
    );
    assert_eq!(
        s.pending_snapshots(10)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![second.id]
    );
    s.finish_snapshot(second.id, SnapshotState::Failed, &[], None, None)
        .await
        .unwrap();
    assert_eq!(
        s.snapshot_state(a.id, second.id).await.unwrap(),
        SnapshotState::Failed
    );
    assert!(s.pending_snapshots(10).await.unwrap().is_empty());

    let hits = s.search_snapshots(&search(a.id, &["cup"])).await.unwrap();
    assert_eq!(hits.len(), 1, "one hit per snapshot and label: {hits:?}");
    assert_eq!(hits[0].snapshot_id, first.id);
    assert_eq!(hits[0].camera_name, "kitchen");
    assert_eq!(hits[0].taken_at, at(10));
    assert_eq!(hits[0].detection, detection("cup", 0.9));
    assert!(
        s.search_snapshots(&search(b.id, &["cup"]))
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        s.snapshot_jpeg(a.id, first.id).await.unwrap().bytes,
        first.jpeg
    );
    assert!(is_not_found(s.snapshot_jpeg(b.id, first.id).await));
    assert!(is_not_found(s.snapshot_detections(b.id, first.id).await));
    assert!(is_not_found(
        s.finish_snapshot(uuid::Uuid::new_v4(), SnapshotState::Done, &[], None, None)
            .await
    ));
    let mut foreign = snapshot(&cam, at(30), 10);
    foreign.account_id = b.id;
    assert!(is_not_found(s.insert_snapshot(&foreign).await));
}

async fn search_filters_by_label_camera_and_time(s: &dyn Store) {
    let (a, _) = account(s, "search-a").await;
    let kitchen = camera(s, a.id, "kitchen", at(0)).await;
    let hall = camera(s, a.id, "hall", at(0)).await;
    let mut ids = Vec::new();
    for (i, (cam, label)) in [(&kitchen, "cup"), (&hall, "cup"), (&kitchen, "cell phone")]
        .into_iter()
        .enumerate()
    {
        let snap = snapshot(cam, at(10 * (i as i64 + 1)), 10);
        s.insert_snapshot(&snap).await.unwrap();
        s.finish_snapshot(
            snap.id,
            SnapshotState::Done,
            &[detection(label, 0.7)],
            None,
            None,
        )
        .await
        .unwrap();
        ids.push(snap.id);
    }
    let found = |hits: Vec<switchboard_store::SearchHit>| {
        hits.into_iter().map(|h| h.snapshot_id).collect::<Vec<_>>()
    };
    assert_eq!(
        found(
            s.search_snapshots(&search(a.id, &["cup", "cell phone"]))
                .await
                .unwrap()
        ),
        vec![ids[2], ids[1], ids[0]]
    );
    let mut q = search(a.id, &["cup"]);
    q.camera_id = Some(kitchen.id);
    assert_eq!(found(s.search_snapshots(&q).await.unwrap()), vec![ids[0]]);
    let mut q = search(a.id, &["cup", "cell phone"]);
    q.since = Some(at(20));
    q.until = Some(at(30));
    assert_eq!(found(s.search_snapshots(&q).await.unwrap()), vec![ids[1]]);
    let mut q = search(a.id, &["cup", "cell phone"]);
    q.limit = 2;
    assert_eq!(
        found(s.search_snapshots(&q).await.unwrap()),
        vec![ids[2], ids[1]]
    );
    assert!(
        s.search_snapshots(&search(a.id, &[]))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn old_and_excess_snapshots_are_pruned_oldest_first(s: &dyn Store) {
    let (a, _) = account(s, "prune-cam").await;
    let cam = camera(s, a.id, "kitchen", at(0)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let snap = snapshot(&cam, at(10 * (i + 1)), 100);
        s.insert_snapshot(&snap).await.unwrap();
        s.finish_snapshot(
            snap.id,
            SnapshotState::Done,
            &[detection("cup", 0.5)],
            None,
            None,
        )
        .await
        .unwrap();
        ids.push(snap.id);
    }
    // Taken before 20 s: the first goes.
    assert_eq!(
        s.prune_snapshots(at(20), None, at(1_000_000))
            .await
            .unwrap(),
        1
    );
    // 250 bytes left for four snapshots of 100: the two newest stay.
    assert_eq!(
        s.prune_snapshots(at(0), Some(250), at(1_000_000))
            .await
            .unwrap(),
        2
    );
    let left = s.search_snapshots(&search(a.id, &["cup"])).await.unwrap();
    assert_eq!(
        left.iter().map(|h| h.snapshot_id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    assert!(is_not_found(s.snapshot_jpeg(a.id, ids[1]).await));
    assert_eq!(
        s.prune_snapshots(at(0), Some(250), at(1_000_000))
            .await
            .unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

fn cell(owner: &User, permalink: &str, created: Timestamp) -> Cell {
    Cell {
        id: uuid::Uuid::new_v4(),
        permalink: permalink.to_owned(),
        account_id: owner.account_id,
        owner: owner.id,
        kernel: "python3".to_owned(),
        code: "print('héllo')\n".to_owned(),
        created_at: created,
    }
}

async fn cells_are_found_by_id_and_permalink(s: &dyn Store) {
    let (_, admin) = account(s, "cell-a").await;
    let one = cell(&admin, "AbC-d_12345", at(1));
    s.create_cell(&one).await.unwrap();
    assert_eq!(s.cell(one.id).await.unwrap(), one);
    assert_eq!(s.cell_by_permalink("AbC-d_12345").await.unwrap(), one);
    // Permalinks are case-sensitive.
    assert!(is_not_found(s.cell_by_permalink("abc-d_12345").await));
    assert!(is_not_found(s.cell(uuid::Uuid::new_v4()).await));

    // The id and the permalink are each unique.
    let mut same_link = cell(&admin, "AbC-d_12345", at(2));
    assert!(is_conflict(s.create_cell(&same_link).await));
    same_link.permalink = "other-link1".to_owned();
    s.create_cell(&same_link).await.unwrap();
    let mut same_id = cell(&admin, "third-link1", at(3));
    same_id.id = one.id;
    assert!(is_conflict(s.create_cell(&same_id).await));

    // A cell needs its account.
    let mut orphan = cell(&admin, "orphan-link", at(4));
    orphan.account_id = AccountId::new();
    assert!(is_not_found(s.create_cell(&orphan).await));
}

async fn cell_files_are_replaced_by_name_and_capped(s: &dyn Store) {
    let (_, admin) = account(s, "cell-f").await;
    let one = cell(&admin, "files-link1", at(1));
    s.create_cell(&one).await.unwrap();
    assert!(s.cell_files(one.id).await.unwrap().is_empty());

    let stored = s
        .put_cell_file(one.id, "plot.png", &plain(&[0, 1, 2, 255]), 4, at(2), 2)
        .await
        .unwrap();
    assert_eq!(
        stored,
        CellFile {
            name: "plot.png".to_owned(),
            size: 4,
            updated_at: at(2)
        }
    );
    s.put_cell_file(one.id, "b.txt", &plain(b"hi"), 2, at(3), 2)
        .await
        .unwrap();
    // A third name is over the cap of two; replacing an existing name is not.
    assert!(is_conflict(
        s.put_cell_file(one.id, "c.txt", &plain(b"no"), 2, at(4), 2)
            .await
    ));
    s.put_cell_file(one.id, "b.txt", &plain(b"hello"), 5, at(5), 2)
        .await
        .unwrap();

    let listed = s.cell_files(one.id).await.unwrap();
    let names: Vec<_> = listed.iter().map(|f| (f.name.as_str(), f.size)).collect();
    assert_eq!(names, [("b.txt", 5), ("plot.png", 4)]);
    let (file, content) = s.cell_file(one.id, "b.txt").await.unwrap();
    assert_eq!(content, plain(b"hello"));
    assert_eq!(file.updated_at, at(5));
    assert_eq!(
        s.cell_file(one.id, "plot.png").await.unwrap().1.bytes,
        [0, 1, 2, 255]
    );
    assert!(is_not_found(s.cell_file(one.id, "c.txt").await));
    assert!(is_not_found(
        s.put_cell_file(uuid::Uuid::new_v4(), "x", &plain(b"x"), 1, at(6), 2)
            .await
    ));
}

async fn search_pages_through_many_boxes_per_snapshot(s: &dyn Store) {
    let (a, _) = account(s, "search-pages").await;
    let cam = camera(s, a.id, "street", at(0)).await;
    // 30 snapshots with 20 people each: 600 rows, more than one page of the search.
    let mut ids = Vec::new();
    for i in 0..30 {
        let snap = snapshot(&cam, at(i + 1), 10);
        s.insert_snapshot(&snap).await.unwrap();
        let people: Vec<_> = (0..20)
            .map(|k| detection("person", 0.3 + f64::from(k) / 100.0))
            .collect();
        s.finish_snapshot(snap.id, SnapshotState::Done, &people, None, None)
            .await
            .unwrap();
        ids.push(snap.id);
    }
    let mut q = search(a.id, &["person"]);
    q.limit = 25;
    let hits = s.search_snapshots(&q).await.unwrap();
    let expected: Vec<_> = ids.iter().rev().take(25).copied().collect();
    assert_eq!(
        hits.iter().map(|h| h.snapshot_id).collect::<Vec<_>>(),
        expected
    );
    // One hit per snapshot, with its most confident box.
    assert!(
        hits.iter()
            .all(|h| (h.detection.confidence - 0.49).abs() < 1e-9)
    );
    q.limit = 100;
    assert_eq!(s.search_snapshots(&q).await.unwrap().len(), 30);
}

async fn near_duplicates_are_discarded_and_counted(s: &dyn Store) {
    let (a, _) = account(s, "dedup").await;
    let cam = camera(s, a.id, "door", at(0)).await;
    let first = snapshot(&cam, at(10), 10);
    s.insert_snapshot(&first).await.unwrap();
    assert_eq!(
        s.previous_snapshot(cam.id, at(10), first.id).await.unwrap(),
        None
    );
    s.finish_snapshot(
        first.id,
        SnapshotState::Done,
        &[
            detection("person", 0.9),
            detection("cup", 0.6),
            detection("person", 0.5),
        ],
        Some(&[7u8; 256]),
        None,
    )
    .await
    .unwrap();
    let second = snapshot(&cam, at(20), 10);
    s.insert_snapshot(&second).await.unwrap();
    let previous = s
        .previous_snapshot(cam.id, at(20), second.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(previous.id, first.id);
    assert_eq!(previous.signature, Some(vec![7u8; 256]));
    assert_eq!(previous.labels, vec!["cup".to_owned(), "person".to_owned()]);

    s.discard_snapshot(second.id, switchboard_store::Discard::Duplicate)
        .await
        .unwrap();
    assert!(is_not_found(s.snapshot_jpeg(a.id, second.id).await));
    assert!(is_not_found(
        s.discard_snapshot(second.id, switchboard_store::Discard::Duplicate)
            .await
    ));
    let third = snapshot(&cam, at(30), 10);
    s.insert_snapshot(&third).await.unwrap();
    s.discard_snapshot(third.id, switchboard_store::Discard::NoPerson)
        .await
        .unwrap();
    let seen = s.camera(a.id, cam.id).await.unwrap();
    assert_eq!((seen.uploads, seen.deduplicated, seen.discarded), (3, 1, 1));
    assert_eq!(seen.last_snapshot_id, Some(first.id));
    assert_eq!(
        seen.snapshots_last_hour, 0,
        "taken in 2026-03, not the last hour"
    );
}

async fn pinned_snapshots_outlive_retention_until_unpinned(s: &dyn Store) {
    let (a, _) = account(s, "pins").await;
    let cam = camera(s, a.id, "yard", at(0)).await;
    let old = snapshot(&cam, at(10), 100);
    let other = snapshot(&cam, at(11), 100);
    for snap in [&old, &other] {
        s.insert_snapshot(snap).await.unwrap();
    }
    s.pin_snapshots(&[old.id], at(500)).await.unwrap();
    s.pin_snapshots(&[], at(500)).await.unwrap();
    // Both are past retention; only the unpinned one goes while the pin holds.
    assert_eq!(s.prune_snapshots(at(100), None, at(400)).await.unwrap(), 1);
    assert!(s.snapshot_jpeg(a.id, old.id).await.is_ok());
    // The size rule spares it too.
    assert_eq!(s.prune_snapshots(at(0), Some(0), at(400)).await.unwrap(), 0);
    // An earlier pin never shortens a later one.
    s.pin_snapshots(&[old.id], at(300)).await.unwrap();
    assert_eq!(s.prune_snapshots(at(100), None, at(450)).await.unwrap(), 0);
    assert_eq!(s.prune_snapshots(at(100), None, at(500)).await.unwrap(), 1);
}

async fn cameras_carry_their_live_session(s: &dyn Store) {
    let (a, _) = account(s, "cam-live").await;
    let (b, _) = account(s, "cam-live-b").await;
    let cam = camera(s, a.id, "porch", at(0)).await;
    assert_eq!(s.camera_access(cam.id).await.unwrap().live_suid, None);
    let suid = uuid::Uuid::new_v4();
    s.set_camera_live(a.id, cam.id, Some(suid)).await.unwrap();
    assert_eq!(s.camera_access(cam.id).await.unwrap().live_suid, Some(suid));
    assert_eq!(s.camera(a.id, cam.id).await.unwrap().live_suid, Some(suid));
    assert!(is_not_found(s.set_camera_live(b.id, cam.id, None).await));
    s.set_camera_live(a.id, cam.id, None).await.unwrap();
    assert_eq!(s.camera_access(cam.id).await.unwrap().live_suid, None);

    let snap = snapshot(&cam, at(5), 42);
    s.insert_snapshot(&snap).await.unwrap();
    let info = s.snapshot_info(a.id, snap.id).await.unwrap();
    assert_eq!(
        (
            info.camera_id,
            info.camera_name.as_str(),
            info.bytes,
            info.state
        ),
        (cam.id, "porch", 42, SnapshotState::Pending)
    );
    assert_eq!(info.taken_at, at(5));
    assert!(is_not_found(s.snapshot_info(b.id, snap.id).await));
}

async fn leases_are_renewed_taken_over_when_expired_and_released(s: &dyn Store) {
    let (_, admin) = account(s, "leases").await;
    let a = stored_session(s, &admin, at(0)).await;
    let b = stored_session(s, &admin, at(1)).await;
    assert_eq!(s.session_owner(a.suid).await.unwrap(), None);
    // n1 takes both open sessions (they have no owner yet).
    let mut owned = s.claim_sessions("n1", at(10), at(20)).await.unwrap();
    owned.sort();
    let mut both = vec![a.suid, b.suid];
    both.sort();
    assert_eq!(owned, both);
    assert_eq!(
        s.session_owner(a.suid).await.unwrap(),
        Some(("n1".to_owned(), at(20)))
    );
    // n2 gets nothing while n1's leases hold, and n1 renews them.
    assert!(
        s.claim_sessions("n2", at(15), at(25))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!s.claim_session(a.suid, "n2", at(15), at(25)).await.unwrap());
    assert_eq!(
        s.claim_sessions("n1", at(16), at(26)).await.unwrap().len(),
        2
    );
    // n1 stops renewing: after its lease runs out, n2 takes over.
    assert_eq!(
        s.claim_sessions("n2", at(27), at(37)).await.unwrap().len(),
        2
    );
    assert!(
        s.claim_sessions("n1", at(28), at(38))
            .await
            .unwrap()
            .is_empty()
    );
    // A graceful stop hands its sessions over at once.
    assert_eq!(s.release_sessions("n2").await.unwrap(), 2);
    assert!(s.claim_session(b.suid, "n3", at(29), at(39)).await.unwrap());
    assert_eq!(
        s.session_owner(b.suid).await.unwrap(),
        Some(("n3".to_owned(), at(39)))
    );
    // Ended sessions are nobody's.
    let mut ended = s.session(a.suid).await.unwrap();
    ended.end(EndReason::EndedByUser, at(40)).unwrap();
    s.end_session(&ended).await.unwrap();
    assert_eq!(s.session_owner(a.suid).await.unwrap(), None);
    assert!(!s.claim_session(a.suid, "n3", at(41), at(51)).await.unwrap());
    assert_eq!(
        s.claim_sessions("n3", at(41), at(51)).await.unwrap(),
        vec![b.suid]
    );
}

async fn one_of_two_racing_nodes_wins_a_session(s: &dyn Store) {
    let (_, admin) = account(s, "lease-race").await;
    let mut sessions = Vec::new();
    for i in 0..20 {
        sessions.push(stored_session(s, &admin, at(i)).await.suid);
    }
    let (first, second) = tokio::join!(
        s.claim_sessions("n1", at(100), at(110)),
        s.claim_sessions("n2", at(100), at(110))
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.len() + second.len(), 20, "each session has one owner");
    assert!(first.iter().all(|suid| !second.contains(suid)));
}

// ---------------------------------------------------------------------------------------------
// Admission counts
// ---------------------------------------------------------------------------------------------

fn slot(account: AccountId, kind: SlotKind, scope: &str, node: &str, until: Timestamp) -> Slot {
    Slot {
        id: uuid::Uuid::new_v4().to_string(),
        account,
        kind,
        scope: scope.to_owned(),
        node: node.to_owned(),
        lease_until: until,
    }
}

fn check(counted: Counted, max: u64) -> Check {
    Check { counted, max }
}

async fn account_limits_round_trip_and_need_an_account(s: &dyn Store) {
    use switchboard_core::limits::{Limit, LimitOverrides};
    let (acct, admin) = account(s, "limited").await;
    assert!(s.account_limits(acct.id).await.unwrap().is_empty());
    let limits = LimitOverrides::from([(Limit::Sessions, 2), (Limit::SnapshotBytes, 1 << 40)]);
    let by = admin.id.to_string();
    s.set_account_limits(acct.id, &limits, Some(&by), at(1))
        .await
        .unwrap();
    assert_eq!(s.account_limits(acct.id).await.unwrap(), limits);
    // Replaced whole, and cleared.
    let fewer = LimitOverrides::from([(Limit::Kernels, 0)]);
    s.set_account_limits(acct.id, &fewer, None, at(2))
        .await
        .unwrap();
    assert_eq!(s.account_limits(acct.id).await.unwrap(), fewer);
    assert_eq!(s.accounts_with_own_limits().await.unwrap(), [acct.id]);
    s.set_account_limits(acct.id, &LimitOverrides::new(), None, at(3))
        .await
        .unwrap();
    assert!(s.account_limits(acct.id).await.unwrap().is_empty());
    assert!(s.accounts_with_own_limits().await.unwrap().is_empty());
    let nobody = AccountId::new();
    assert!(is_not_found(s.account_limits(nobody).await));
    assert!(is_not_found(
        s.set_account_limits(nobody, &limits, None, at(1)).await
    ));
}

async fn places_are_held_until_released_or_their_lease_ends(s: &dyn Store) {
    let (acct, _) = account(s, "viewer.host").await;
    let suid = Suid::new().to_string();
    let checks = |max| {
        [
            check(Counted::HeldIn(SlotKind::Viewer, suid.clone()), max),
            check(Counted::Held(SlotKind::Viewer), 10),
        ]
    };
    let first = slot(acct.id, SlotKind::Viewer, &suid, "node-a", at(30));
    assert_eq!(
        s.admit(&first, &checks(2), at(0)).await.unwrap(),
        Admission::Admitted
    );
    let second = slot(acct.id, SlotKind::Viewer, &suid, "node-b", at(30));
    assert_eq!(
        s.admit(&second, &checks(2), at(0)).await.unwrap(),
        Admission::Admitted
    );
    let third = slot(acct.id, SlotKind::Viewer, &suid, "node-a", at(30));
    assert_eq!(
        s.admit(&third, &checks(2), at(0)).await.unwrap(),
        Admission::Refused {
            index: 0,
            in_use: 2
        }
    );
    // Another session of the account is not full; the account's count is.
    let other = slot(acct.id, SlotKind::Viewer, "other", "node-a", at(30));
    assert_eq!(
        s.admit(&other, &[check(Counted::Held(SlotKind::Viewer), 2)], at(0))
            .await
            .unwrap(),
        Admission::Refused {
            index: 0,
            in_use: 2
        }
    );
    // Released: a place again.
    s.release_slot(&first.id).await.unwrap();
    s.release_slot(&first.id).await.unwrap();
    assert_eq!(
        s.admit(&third, &checks(2), at(0)).await.unwrap(),
        Admission::Admitted
    );
    // node-b dies: its place counts until its lease ends, unless renewed.
    assert_eq!(s.renew_slots("node-a", at(90)).await.unwrap(), 1);
    let fourth = slot(acct.id, SlotKind::Viewer, &suid, "node-a", at(90));
    assert!(matches!(
        s.admit(&fourth, &checks(2), at(20)).await.unwrap(),
        Admission::Refused { .. }
    ));
    assert_eq!(
        s.admit(&fourth, &checks(2), at(31)).await.unwrap(),
        Admission::Admitted
    );
    // A node starting again gives its places back, and expired ones go too.
    assert_eq!(s.release_node_slots("node-a", at(40)).await.unwrap(), 3);
    let usage = s.usage(acct.id, at(40), at(0)).await.unwrap();
    assert_eq!(usage.viewers, 0);
}

async fn reservations_count_until_their_row_exists(s: &dyn Store) {
    let (acct, admin) = account(s, "opener").await;
    let open = stored_session(s, &admin, at(0)).await;
    let max_two = [check(Counted::OpenSessions, 2)];
    let next = session_by(&admin, at(1));
    let reservation = slot(
        acct.id,
        SlotKind::Session,
        &next.suid.to_string(),
        "n",
        at(60),
    );
    assert_eq!(
        s.admit(&reservation, &max_two, at(1)).await.unwrap(),
        Admission::Admitted
    );
    // Reserved but not stored yet: counted once.
    let late = slot(
        acct.id,
        SlotKind::Session,
        &Suid::new().to_string(),
        "n",
        at(60),
    );
    assert_eq!(
        s.admit(&late, &max_two, at(1)).await.unwrap(),
        Admission::Refused {
            index: 0,
            in_use: 2
        }
    );
    // Stored: counted once still, as the session.
    s.insert_session(&next).await.unwrap();
    assert_eq!(s.usage(acct.id, at(2), at(0)).await.unwrap().sessions, 2);
    s.release_slot(&reservation.id).await.unwrap();
    assert_eq!(s.usage(acct.id, at(2), at(0)).await.unwrap().sessions, 2);
    // An ended session frees its place.
    let mut ended = open.clone();
    ended.end(EndReason::EndedByUser, at(3)).unwrap();
    s.end_session(&ended).await.unwrap();
    assert_eq!(
        s.admit(&late, &max_two, at(4)).await.unwrap(),
        Admission::Admitted
    );
    // Users and cameras count the same way.
    let new_user = UserId::new().to_string();
    let users = [check(Counted::Users, 1)];
    assert_eq!(
        s.admit(
            &slot(acct.id, SlotKind::User, &new_user, "n", at(60)),
            &users,
            at(4)
        )
        .await
        .unwrap(),
        Admission::Refused {
            index: 0,
            in_use: 1
        }
    );
    let cameras = [check(Counted::Cameras, 1)];
    let camera = slot(acct.id, SlotKind::Camera, "cam-1", "n", at(60));
    assert_eq!(
        s.admit(&camera, &cameras, at(4)).await.unwrap(),
        Admission::Admitted
    );
    let another = slot(acct.id, SlotKind::Camera, "cam-2", "n", at(60));
    assert!(matches!(
        s.admit(&another, &cameras, at(4)).await.unwrap(),
        Admission::Refused { .. }
    ));
}

async fn racing_admissions_for_the_last_place_have_one_winner(s: &dyn Store) {
    let (acct, _) = account(s, "racer").await;
    for round in 0..5 {
        let checks = [check(Counted::Held(SlotKind::Kernel), round + 1)];
        let a = slot(acct.id, SlotKind::Kernel, "a", "node-a", at(60));
        let b = slot(acct.id, SlotKind::Kernel, "b", "node-b", at(60));
        let (ra, rb) = tokio::join!(s.admit(&a, &checks, at(0)), s.admit(&b, &checks, at(0)));
        let admitted = [ra.unwrap(), rb.unwrap()]
            .into_iter()
            .filter(|r| *r == Admission::Admitted)
            .count();
        assert_eq!(admitted, 1, "round {round}");
    }
    let usage = s.usage(acct.id, at(1), at(0)).await.unwrap();
    assert_eq!(usage.kernels, 5);
}

async fn usage_counts_what_an_account_holds(s: &dyn Store) {
    let (acct, admin) = account(s, "user.of.things").await;
    stored_session(s, &admin, at(0)).await;
    for scope in ["s1", "s1", "s2"] {
        let viewer = slot(acct.id, SlotKind::Viewer, scope, "n", at(60));
        s.admit(&viewer, &[], at(0)).await.unwrap();
    }
    s.add_kernel_cpu(acct.id, "2026-03-01", 1500).await.unwrap();
    s.add_kernel_cpu(acct.id, "2026-03-01", 2600).await.unwrap();
    s.add_kernel_cpu(acct.id, "2026-02-28", 99_000)
        .await
        .unwrap();
    let usage = s.usage(acct.id, at(1), at(0)).await.unwrap();
    assert_eq!(usage.sessions, 1);
    assert_eq!(usage.viewers, 3);
    assert_eq!(usage.busiest_session_viewers, 2);
    assert_eq!(usage.users, 1);
    assert_eq!(usage.kernel_cpu_seconds_today, 4);
    assert_eq!(usage.cameras, 0);
    assert_eq!(usage.snapshot_bytes, 0);
    assert_eq!(usage.cell_file_bytes, 0);
    assert_eq!(
        s.kernel_cpu_seconds(acct.id, "2026-02-28").await.unwrap(),
        99
    );
    // An invite names its account until it is used or expires.
    s.create_invite(&invite(acct.id, admin.id, "counted", at(600)))
        .await
        .unwrap();
    assert_eq!(s.invite_account("counted", at(1)).await.unwrap(), acct.id);
    assert!(is_not_found(s.invite_account("counted", at(600)).await));
    assert!(is_not_found(s.invite_account("unknown", at(1)).await));
}

// ---------------------------------------------------------------------------------------------
// Account security
// ---------------------------------------------------------------------------------------------

async fn standing_follows_passwords_second_factors_and_the_account_rule(s: &dyn Store) {
    let (account, admin) = account(s, "sec.admin").await;
    let (user, standing) = s.user_standing(admin.id).await.unwrap();
    assert_eq!(user, admin);
    assert_eq!(standing, Standing::default());

    s.set_password(admin.id, "$argon2id$one-time", true)
        .await
        .unwrap();
    let (user, standing) = s.user_standing(admin.id).await.unwrap();
    assert_eq!(user.password_hash, "$argon2id$one-time");
    assert!(standing.must_change_password);
    s.set_password(admin.id, "$argon2id$own", false)
        .await
        .unwrap();
    assert!(
        !s.user_standing(admin.id)
            .await
            .unwrap()
            .1
            .must_change_password
    );

    assert!(!s.second_factor_required(account.id).await.unwrap());
    s.set_second_factor_required(account.id, true)
        .await
        .unwrap();
    assert!(s.second_factor_required(account.id).await.unwrap());
    let standing = s.user_standing(admin.id).await.unwrap().1;
    assert!(standing.second_factor_required && !standing.second_factor_enabled);

    s.begin_totp(admin.id, "SECRETA", at(1)).await.unwrap();
    s.enable_totp(admin.id, "SECRETA", 100, &[], at(2))
        .await
        .unwrap();
    assert!(
        s.user_standing(admin.id)
            .await
            .unwrap()
            .1
            .second_factor_enabled
    );

    assert!(is_not_found(s.user_standing(UserId::new()).await));
    assert!(is_not_found(
        s.set_password(UserId::new(), "h", false).await
    ));
    s.set_second_factor_required(account.id, false)
        .await
        .unwrap();
    assert!(!s.second_factor_required(account.id).await.unwrap());
}

async fn renaming_frees_the_old_name_and_refuses_a_taken_one(s: &dyn Store) {
    let (account, admin) = account(s, "alice").await;
    let bob = user(account.id, "bob", Role::Member, at(1));
    s.create_user(&bob).await.unwrap();
    // Taken in another spelling: a conflict, and nothing changes.
    assert!(is_conflict(s.rename_user(admin.id, "BOB").await));
    assert_eq!(s.user(admin.id).await.unwrap().username, "alice");
    s.rename_user(admin.id, "carol").await.unwrap();
    assert_eq!(s.user_by_name("CAROL").await.unwrap().id, admin.id);
    assert!(is_not_found(s.user_by_name("alice").await));
    // The old name is free at once.
    s.rename_user(bob.id, "Alice").await.unwrap();
    assert_eq!(s.user_by_name("alice").await.unwrap().id, bob.id);
    assert!(is_not_found(s.rename_user(UserId::new(), "dave").await));
}

async fn racing_renames_to_one_name_have_one_winner(s: &dyn Store) {
    let (account, admin) = account(s, "racer.one").await;
    let other = user(account.id, "racer.two", Role::Member, at(1));
    s.create_user(&other).await.unwrap();
    let (a, b) = tokio::join!(
        s.rename_user(admin.id, "winner"),
        s.rename_user(other.id, "Winner")
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    assert!(is_conflict(if a.is_ok() { b } else { a }));
}

async fn a_totp_step_is_accepted_once(s: &dyn Store) {
    let (_, admin) = account(s, "totp.user").await;
    // No second factor: nothing is accepted.
    assert!(!s.accept_totp_step(admin.id, 10).await.unwrap());
    s.begin_totp(admin.id, "SECRETB", at(1)).await.unwrap();
    s.enable_totp(admin.id, "SECRETB", 10, &[], at(2))
        .await
        .unwrap();
    // The confirming step is used up, and so is any earlier one.
    assert!(!s.accept_totp_step(admin.id, 10).await.unwrap());
    assert!(!s.accept_totp_step(admin.id, 9).await.unwrap());
    assert!(s.accept_totp_step(admin.id, 11).await.unwrap());
    // Two nodes accepting the same code at once: one wins.
    let (a, b) = tokio::join!(
        s.accept_totp_step(admin.id, 12),
        s.accept_totp_step(admin.id, 12)
    );
    assert!(a.unwrap() ^ b.unwrap());
    assert_eq!(s.second_factor(admin.id).await.unwrap().last_step, Some(12));
}

async fn enrolment_is_confirmed_once_with_its_own_secret(s: &dyn Store) {
    let (_, admin) = account(s, "enrolling").await;
    assert_eq!(
        s.second_factor(admin.id).await.unwrap(),
        SecondFactor::default()
    );
    s.begin_totp(admin.id, "FIRST", at(1)).await.unwrap();
    // A second start replaces the first.
    s.begin_totp(admin.id, "SECOND", at(2)).await.unwrap();
    let factor = s.second_factor(admin.id).await.unwrap();
    assert_eq!(factor.pending, Some(("SECOND".to_owned(), at(2))));
    assert_eq!(factor.secret, None);
    assert!(is_conflict(
        s.enable_totp(admin.id, "FIRST", 5, &[], at(3)).await
    ));
    s.enable_totp(admin.id, "SECOND", 5, &[], at(3))
        .await
        .unwrap();
    assert!(is_conflict(
        s.enable_totp(admin.id, "SECOND", 6, &[], at(4)).await
    ));
    let factor = s.second_factor(admin.id).await.unwrap();
    assert_eq!(factor.secret.as_deref(), Some("SECOND"));
    assert_eq!(factor.pending, None);
    assert_eq!(factor.last_step, Some(5));
    // Enabled: no new enrolment until it is turned off.
    assert!(is_conflict(s.begin_totp(admin.id, "THIRD", at(5)).await));
    s.disable_totp(admin.id).await.unwrap();
    assert_eq!(s.second_factor(admin.id).await.unwrap().secret, None);
    s.begin_totp(admin.id, "THIRD", at(5)).await.unwrap();
    assert!(is_not_found(s.begin_totp(UserId::new(), "X", at(5)).await));
}

async fn recovery_codes_work_once_and_go_with_the_second_factor(s: &dyn Store) {
    let (account, admin) = account(s, "recovering").await;
    let other = user(account.id, "other.recovering", Role::Member, at(1));
    s.create_user(&other).await.unwrap();
    let hashes: Vec<String> = (0..10).map(|i| format!("hash-{i}")).collect();
    s.begin_totp(admin.id, "S", at(1)).await.unwrap();
    s.enable_totp(admin.id, "S", 1, &hashes, at(2))
        .await
        .unwrap();
    assert_eq!(
        s.second_factor(admin.id).await.unwrap().recovery_codes_left,
        10
    );
    assert!(
        s.use_recovery_code(admin.id, "hash-3", at(3))
            .await
            .unwrap()
    );
    assert!(
        !s.use_recovery_code(admin.id, "hash-3", at(4))
            .await
            .unwrap()
    );
    assert!(
        !s.use_recovery_code(other.id, "hash-4", at(4))
            .await
            .unwrap()
    );
    assert!(
        !s.use_recovery_code(admin.id, "unknown", at(4))
            .await
            .unwrap()
    );
    let (a, b) = tokio::join!(
        s.use_recovery_code(admin.id, "hash-5", at(5)),
        s.use_recovery_code(admin.id, "hash-5", at(5))
    );
    assert!(a.unwrap() ^ b.unwrap());
    assert_eq!(
        s.second_factor(admin.id).await.unwrap().recovery_codes_left,
        8
    );
    s.disable_totp(admin.id).await.unwrap();
    assert_eq!(
        s.second_factor(admin.id).await.unwrap().recovery_codes_left,
        0
    );
    assert!(
        !s.use_recovery_code(admin.id, "hash-6", at(6))
            .await
            .unwrap()
    );
}

fn sign_in(user: &User, id: &str, created: Timestamp, expires: Timestamp) -> SignIn {
    SignIn {
        id: id.to_owned(),
        user_id: user.id,
        created_at: created,
        last_used_at: created,
        expires_at: expires,
        client_addr: Some("192.0.2.1".to_owned()),
        user_agent: Some("curl/8".to_owned()),
    }
}

async fn sign_ins_are_listed_touched_and_revoked(s: &dyn Store) {
    let (account, admin) = account(s, "signing.in").await;
    let other = user(account.id, "other.signing", Role::Member, at(1));
    s.create_user(&other).await.unwrap();
    let first = sign_in(&admin, "jti-1", at(10), at(1000));
    let second = sign_in(&admin, "jti-2", at(20), at(1000));
    s.record_sign_in(&first).await.unwrap();
    s.record_sign_in(&second).await.unwrap();
    s.record_sign_in(&sign_in(&other, "jti-3", at(30), at(1000)))
        .await
        .unwrap();
    assert_eq!(
        s.sign_ins(admin.id, at(50)).await.unwrap(),
        vec![second.clone(), first.clone()]
    );
    // Expired ones are not listed.
    assert!(s.sign_ins(admin.id, at(1000)).await.unwrap().is_empty());

    s.touch_sign_in("jti-1", at(60)).await.unwrap();
    // Never moved back.
    s.touch_sign_in("jti-1", at(55)).await.unwrap();
    let listed = s.sign_ins(admin.id, at(61)).await.unwrap();
    assert_eq!(listed[1].last_used_at, at(60));

    // Another user's sign-in is not found, and stays.
    assert!(is_not_found(s.revoke_sign_in(admin.id, "jti-3").await));
    let ended = s.revoke_sign_in(admin.id, "jti-1").await.unwrap();
    assert_eq!(ended.id, "jti-1");
    assert!(is_not_found(s.revoke_sign_in(admin.id, "jti-1").await));
    let revoked = s.revoked_tokens(at(100)).await.unwrap();
    assert!(revoked.contains(&"jti-1".to_owned()), "{revoked:?}");
    assert_eq!(s.sign_ins(other.id, at(50)).await.unwrap().len(), 1);

    // A new sign-in clears the user's expired ones.
    s.record_sign_in(&sign_in(&admin, "jti-4", at(2000), at(3000)))
        .await
        .unwrap();
    assert!(is_not_found(s.revoke_sign_in(admin.id, "jti-2").await));
    assert!(is_not_found(
        s.record_sign_in(&sign_in(
            &user(account.id, "ghost", Role::Member, at(0)),
            "jti-5",
            at(1),
            at(2)
        ))
        .await
    ));
}

async fn revoking_other_sign_ins_keeps_one_and_stores_the_rest_revoked(s: &dyn Store) {
    let (_, admin) = account(s, "many.places").await;
    for i in 0..4 {
        s.record_sign_in(&sign_in(&admin, &format!("place-{i}"), at(i), at(1000)))
            .await
            .unwrap();
    }
    let mut ended: Vec<String> = s
        .revoke_sign_ins(admin.id, Some("place-2"))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ended.sort();
    assert_eq!(ended, ["place-0", "place-1", "place-3"]);
    let left = s.sign_ins(admin.id, at(10)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "place-2");
    let revoked = s.revoked_tokens(at(10)).await.unwrap();
    for id in &ended {
        assert!(revoked.contains(id), "{id} not stored revoked");
    }
    assert!(!revoked.contains(&"place-2".to_owned()));
    let all = s.revoke_sign_ins(admin.id, None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(s.sign_ins(admin.id, at(10)).await.unwrap().is_empty());
}

async fn security_rows_go_with_their_user(s: &dyn Store) {
    let (account, admin) = account(s, "staying").await;
    let leaving = user(account.id, "leaving", Role::Member, at(1));
    s.create_user(&leaving).await.unwrap();
    s.set_password(leaving.id, "h", true).await.unwrap();
    s.begin_totp(leaving.id, "S", at(1)).await.unwrap();
    s.enable_totp(leaving.id, "S", 1, &["code".to_owned()], at(2))
        .await
        .unwrap();
    s.record_sign_in(&sign_in(&leaving, "leaving-1", at(1), at(1000)))
        .await
        .unwrap();
    s.delete_user(leaving.id).await.unwrap();
    assert!(s.sign_ins(leaving.id, at(2)).await.unwrap().is_empty());
    assert_eq!(
        s.second_factor(leaving.id).await.unwrap(),
        SecondFactor::default()
    );
    assert_eq!(
        s.user_standing(admin.id).await.unwrap().1,
        Standing::default()
    );
}

// ---------------------------------------------------------------------------------------------
// Audit trail
// ---------------------------------------------------------------------------------------------

/// `n` linked records of `node`'s chain after `link`, one a second from `start`.
fn audit_records(node: &str, link: Link, start: i64, events: Vec<AuditEvent>) -> Vec<AuditRecord> {
    let mut link = link;
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let record = AuditRecord::next(node, &link, at(start + i as i64), event);
            link = record.link();
            record
        })
        .collect()
}

async fn audit_chains_append_in_order_and_read_back_filtered_and_paged(s: &dyn Store) {
    let alice = AccountId::new();
    let bob = AccountId::new();
    let a_events = vec![
        AuditEvent::new(Actor::user("u1"), Action::SignIn).account(alice),
        AuditEvent::new(Actor::user("u1"), Action::Watched)
            .account(alice)
            .target("session", "s1")
            .detail(json!({"seconds": 3.5})),
        AuditEvent::new(Actor::user("u2"), Action::Watched)
            .account(alice)
            .target("session", "s1"),
    ];
    let a = audit_records("node-a", Link::GENESIS, 10, a_events);
    s.append_audit(&a).await.expect("append a");
    let b = audit_records(
        "node-b",
        Link::GENESIS,
        11,
        vec![
            AuditEvent::new(Actor::anonymous(), Action::SignIn).account(bob),
            AuditEvent::new(Actor::system(), Action::SessionEnded).account(bob),
        ],
    );
    s.append_audit(&b).await.expect("append b");

    assert_eq!(
        s.audit_head("node-a").await.expect("head"),
        Some(a[2].link())
    );
    assert_eq!(s.audit_head("nobody").await.expect("head"), None);
    assert_eq!(
        s.audit_nodes().await.expect("nodes"),
        vec!["node-a".to_owned(), "node-b".to_owned()]
    );
    // The chain reads back exactly as written, in order, a page at a time.
    let first = s.audit_chain("node-a", 0, 2).await.expect("chain");
    assert_eq!(first, a[..2].to_vec());
    let rest = s.audit_chain("node-a", 2, 2).await.expect("chain");
    assert_eq!(rest, a[2..].to_vec());

    let query = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };
    let seqs = |records: Vec<AuditRecord>| -> Vec<(String, u64)> {
        records.into_iter().map(|r| (r.node, r.seq)).collect()
    };
    // Newest first across nodes.
    let everything = s.audit_records(&query(&|_| {})).await.expect("all");
    assert_eq!(
        seqs(everything),
        vec![
            ("node-b".into(), 2),
            ("node-a".into(), 3),
            ("node-b".into(), 1),
            ("node-a".into(), 2),
            ("node-a".into(), 1),
        ]
    );
    let of_bob = s
        .audit_records(&query(&|q| q.account = Some(bob)))
        .await
        .expect("bob");
    assert_eq!(of_bob.len(), 2);
    let watched = s
        .audit_records(&query(&|q| {
            q.target = Some("s1".into());
            q.action = Some("session.watched".into());
        }))
        .await
        .expect("watched");
    assert_eq!(
        seqs(watched),
        vec![("node-a".into(), 3), ("node-a".into(), 2)]
    );
    let by_u1 = s
        .audit_records(&query(&|q| q.actor = Some("u1".into())))
        .await
        .expect("u1");
    assert_eq!(by_u1.len(), 2);
    // [from, to): records at 11 and 12 seconds.
    let window = s
        .audit_records(&query(&|q| {
            q.from = Some(at(11));
            q.to = Some(at(13));
        }))
        .await
        .expect("window");
    assert_eq!(
        seqs(window),
        vec![
            ("node-b".into(), 2),
            ("node-a".into(), 3),
            ("node-b".into(), 1),
            ("node-a".into(), 2),
        ]
    );
    // Keyset paging: two pages of two, then one, then none.
    let mut cursor: Option<AuditCursor> = None;
    let mut pages = Vec::new();
    loop {
        let page = s
            .audit_records(&query(&|q| {
                q.limit = 2;
                q.after = cursor.clone();
            }))
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        cursor = Some(AuditCursor {
            at: last.at,
            node: last.node.clone(),
            seq: last.seq,
        });
        pages.push(page.len());
    }
    assert_eq!(pages, vec![2, 2, 1]);
}

async fn a_taken_place_in_an_audit_chain_is_a_conflict(s: &dyn Store) {
    let first = audit_records(
        "node-a",
        Link::GENESIS,
        1,
        vec![AuditEvent::new(Actor::system(), Action::AuditPruned)],
    );
    s.append_audit(&first).await.expect("append");
    // Another writer of the same node, unaware of the first record.
    let rival = audit_records(
        "node-a",
        Link::GENESIS,
        2,
        vec![
            AuditEvent::new(Actor::anonymous(), Action::SignIn),
            AuditEvent::new(Actor::anonymous(), Action::SignIn),
        ],
    );
    assert!(is_conflict(s.append_audit(&rival).await));
    // Nothing of the refused batch was kept.
    assert_eq!(s.audit_chain("node-a", 0, 10).await.expect("chain"), first);
}

async fn audit_checkpoints_keys_and_pruning(s: &dyn Store) {
    let records = audit_records(
        "node-a",
        Link::GENESIS,
        100,
        (0..5)
            .map(|_| AuditEvent::new(Actor::user("u"), Action::FrameViewed))
            .collect(),
    );
    s.append_audit(&records).await.expect("append");
    s.register_audit_key("node-a", &[7; 32], at(1))
        .await
        .expect("key");
    s.register_audit_key("node-a", &[7; 32], at(2))
        .await
        .expect("again");
    s.register_audit_key("node-a", &[8; 32], at(3))
        .await
        .expect("key");
    assert_eq!(
        s.audit_keys("node-a").await.expect("keys"),
        vec![vec![7; 32], vec![8; 32]]
    );
    let checkpoint = |seq: u64, kind| Checkpoint {
        node: "node-a".into(),
        seq,
        hash: records[seq as usize - 1].hash,
        at: at(200),
        kind,
        public_key: vec![7; 32],
        signature: vec![9; 64],
    };
    s.add_audit_checkpoint(&checkpoint(2, CheckpointKind::Regular))
        .await
        .expect("checkpoint");
    s.add_audit_checkpoint(&checkpoint(2, CheckpointKind::Regular))
        .await
        .expect("the same again");
    s.add_audit_checkpoint(&checkpoint(4, CheckpointKind::Regular))
        .await
        .expect("checkpoint");
    assert_eq!(
        s.audit_checkpoints("node-a").await.expect("list"),
        vec![
            checkpoint(2, CheckpointKind::Regular),
            checkpoint(4, CheckpointKind::Regular)
        ]
    );
    // Retention: records written before 103 s are the first three.
    let point = s
        .audit_prune_point("node-a", at(103))
        .await
        .expect("point")
        .expect("some");
    assert_eq!(point, records[2].link());
    let deleted = s
        .prune_audit(&checkpoint(3, CheckpointKind::Prune))
        .await
        .expect("prune");
    assert_eq!(deleted, 3);
    assert_eq!(
        s.audit_chain("node-a", 0, 10).await.expect("chain"),
        records[3..].to_vec()
    );
    // The regular checkpoint inside the cut part went with it; the one after stays.
    assert_eq!(
        s.audit_checkpoints("node-a").await.expect("list"),
        vec![
            checkpoint(3, CheckpointKind::Prune),
            checkpoint(4, CheckpointKind::Regular)
        ]
    );
    // A chain cut to nothing still knows where it ends.
    s.prune_audit(&checkpoint(5, CheckpointKind::Prune))
        .await
        .expect("prune all");
    assert_eq!(
        s.audit_head("node-a").await.expect("head"),
        Some(Link {
            seq: 5,
            hash: records[4].hash
        })
    );
    assert_eq!(
        Hash::from_hex(&records[4].hash.to_hex()),
        Some(records[4].hash)
    );
}

// ---------------------------------------------------------------------------------------------
// Encryption at rest: data keys, re-encryption, account deletion
// ---------------------------------------------------------------------------------------------

fn wrapped(account_id: AccountId, version: u32, master: &str, created: Timestamp) -> WrappedKey {
    WrappedKey {
        account_id,
        version,
        wrapped: vec![version as u8; 72],
        master_key_id: master.to_owned(),
        created_at: created,
    }
}

fn sealed(bytes: &[u8], version: u32) -> StoredBlob {
    StoredBlob {
        bytes: bytes.to_vec(),
        key_version: Some(version),
    }
}

async fn data_keys_are_versioned_per_account_and_rewrapped_at_once(s: &dyn Store) {
    let (a, _) = account(s, "keys-a").await;
    let (b, _) = account(s, "keys-b").await;
    assert_eq!(s.any_data_key().await.unwrap(), None);
    assert!(s.data_keys(a.id).await.unwrap().is_empty());

    let a1 = wrapped(a.id, 1, "m1", at(1));
    s.insert_data_key(&a1).await.unwrap();
    // Two nodes making an account's first key: one wins.
    assert!(is_conflict(
        s.insert_data_key(&wrapped(a.id, 1, "m1", at(2))).await
    ));
    let a2 = wrapped(a.id, 2, "m1", at(3));
    s.insert_data_key(&a2).await.unwrap();
    let b1 = wrapped(b.id, 1, "m1", at(4));
    s.insert_data_key(&b1).await.unwrap();
    // A key needs its account.
    assert!(is_not_found(
        s.insert_data_key(&wrapped(AccountId::new(), 1, "m1", at(5)))
            .await
    ));
    assert_eq!(
        s.data_keys(a.id).await.unwrap(),
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(s.any_data_key().await.unwrap(), Some(b1.clone()));
    assert_eq!(s.all_data_keys().await.unwrap().len(), 3);

    // A rotation that misses a key, or starts from the wrong master key, changes nothing.
    let rewrapped = |k: &WrappedKey| WrappedKey {
        wrapped: vec![0xAB; 72],
        master_key_id: "m2".to_owned(),
        ..k.clone()
    };
    assert!(is_conflict(
        s.rewrap_data_keys("m1", &[rewrapped(&a1), rewrapped(&a2)])
            .await
    ));
    assert!(is_conflict(
        s.rewrap_data_keys("m0", &[rewrapped(&a1), rewrapped(&a2), rewrapped(&b1)])
            .await
    ));
    assert_eq!(
        s.data_keys(a.id).await.unwrap(),
        vec![a1.clone(), a2.clone()]
    );
    s.rewrap_data_keys("m1", &[rewrapped(&a1), rewrapped(&a2), rewrapped(&b1)])
        .await
        .unwrap();
    let all = s.all_data_keys().await.unwrap();
    assert!(
        all.iter()
            .all(|k| k.master_key_id == "m2" && k.wrapped == [0xAB; 72])
    );
}

async fn plain_and_stale_blobs_are_resealed_once_then_keys_go(s: &dyn Store) {
    let (a, admin) = account(s, "reseal-a").await;
    let (b, _) = account(s, "reseal-b").await;
    s.insert_data_key(&wrapped(a.id, 1, "m", at(1)))
        .await
        .unwrap();
    s.insert_data_key(&wrapped(a.id, 2, "m", at(2)))
        .await
        .unwrap();
    let cam_a = camera(s, a.id, "a", at(0)).await;
    let cam_b = camera(s, b.id, "b", at(0)).await;
    let plain_a = snapshot(&cam_a, at(10), 8);
    let plain_b = snapshot(&cam_b, at(11), 8);
    let old_a = NewSnapshot {
        jpeg: vec![1; 40],
        key_version: Some(1),
        ..snapshot(&cam_a, at(12), 8)
    };
    let new_a = NewSnapshot {
        jpeg: vec![2; 40],
        key_version: Some(2),
        ..snapshot(&cam_a, at(13), 8)
    };
    for snap in [&plain_a, &plain_b, &old_a, &new_a] {
        s.insert_snapshot(snap).await.unwrap();
    }
    let info = s.snapshot_info(a.id, old_a.id).await.unwrap();
    assert_eq!(
        info.bytes, 8,
        "the picture's own size, not the stored blob's"
    );
    assert_eq!(
        s.snapshot_jpeg(a.id, old_a.id).await.unwrap(),
        sealed(&[1; 40], 1)
    );

    // Plain rows of every account, in id order, page by page.
    let plain_rows = s.stale_snapshots(Stale::Plain, "", 10).await.unwrap();
    let mut ids: Vec<_> = [plain_a.id, plain_b.id].map(|i| i.to_string()).into();
    ids.sort();
    assert_eq!(
        plain_rows
            .iter()
            .map(|p| p.id.to_string())
            .collect::<Vec<_>>(),
        ids
    );
    let first_page = s.stale_snapshots(Stale::Plain, "", 1).await.unwrap();
    let second_page = s
        .stale_snapshots(Stale::Plain, &first_page[0].id.to_string(), 1)
        .await
        .unwrap();
    assert_eq!(second_page[0].id.to_string(), ids[1]);
    // One account's rows below a version, plain ones included.
    let below = s
        .stale_snapshots(
            Stale::Below {
                account: a.id,
                version: 2,
            },
            "",
            10,
        )
        .await
        .unwrap();
    let mut found: Vec<_> = below.iter().map(|p| p.id).collect();
    found.sort();
    let mut want = vec![plain_a.id, old_a.id];
    want.sort();
    assert_eq!(found, want);

    // A reseal happens once: the second, from the same old state, changes nothing.
    let old = below.iter().find(|p| p.id == old_a.id).unwrap().clone();
    let new = switchboard_store::SnapshotBlobs {
        jpeg: vec![3; 40],
        signature: Some(vec![4; 64]),
        key_version: Some(2),
        ..old.clone()
    };
    assert!(s.reseal_snapshot(&old, &new).await.unwrap());
    assert!(!s.reseal_snapshot(&old, &new).await.unwrap());
    assert_eq!(
        s.snapshot_jpeg(a.id, old_a.id).await.unwrap(),
        sealed(&[3; 40], 2)
    );

    // A signature is kept only under the key its row is sealed with.
    s.finish_snapshot(new_a.id, SnapshotState::Done, &[], Some(&[9; 64]), Some(1))
        .await
        .unwrap();
    let next = snapshot(&cam_a, at(14), 8);
    s.insert_snapshot(&next).await.unwrap();
    let previous = s
        .previous_snapshot(cam_a.id, at(14), next.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((previous.id, previous.signature), (new_a.id, None));
    s.finish_snapshot(new_a.id, SnapshotState::Done, &[], Some(&[9; 64]), Some(2))
        .await
        .unwrap();
    let previous = s
        .previous_snapshot(cam_a.id, at(14), next.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(previous.signature, Some(vec![9; 64]));
    assert_eq!(previous.key_version, Some(2));
    s.discard_snapshot(next.id, switchboard_store::Discard::Duplicate)
        .await
        .unwrap();

    // Cell files, likewise.
    let c = cell(&admin, "reseal-cell", at(1));
    s.create_cell(&c).await.unwrap();
    s.put_cell_file(c.id, "a.txt", &plain(b"plain"), 5, at(2), 10)
        .await
        .unwrap();
    s.put_cell_file(c.id, "b.txt", &sealed(&[5; 30], 1), 3, at(3), 10)
        .await
        .unwrap();
    let (file, stored) = s.cell_file(c.id, "b.txt").await.unwrap();
    assert_eq!((file.size, stored), (3, sealed(&[5; 30], 1)));
    let plain_files = s
        .stale_cell_files(Stale::Plain, &(String::new(), String::new()), 10)
        .await
        .unwrap();
    assert_eq!(plain_files.len(), 1);
    assert_eq!(plain_files[0].account_id, a.id);
    assert_eq!(plain_files[0].content, b"plain");
    let stale_files = s
        .stale_cell_files(
            Stale::Below {
                account: a.id,
                version: 2,
            },
            &(String::new(), String::new()),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        stale_files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["a.txt", "b.txt"]
    );
    let after_a = (c.id.to_string(), "a.txt".to_owned());
    let rest = s
        .stale_cell_files(
            Stale::Below {
                account: a.id,
                version: 2,
            },
            &after_a,
            10,
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    // The key of version 1 is still used: it stays.
    assert!(!s.delete_unused_data_key(a.id, 1).await.unwrap());

    let usage = s.key_usage().await.unwrap();
    let of = |account: AccountId, version: Option<u32>| {
        usage
            .iter()
            .find(|u| u.account_id == account && u.key_version == version)
            .map(|u| (u.snapshots, u.cell_files))
    };
    assert_eq!(of(a.id, None), Some((1, 1)));
    assert_eq!(of(a.id, Some(1)), Some((0, 1)));
    assert_eq!(of(a.id, Some(2)), Some((2, 0)));
    assert_eq!(of(b.id, None), Some((1, 0)));

    // A file replaced since it was read is not overwritten by a stale reseal.
    let old_file = stale_files[1].clone();
    s.put_cell_file(c.id, "b.txt", &sealed(&[6; 30], 1), 3, at(4), 10)
        .await
        .unwrap();
    let new_file = switchboard_store::CellFileBlob {
        content: vec![7; 30],
        key_version: Some(2),
        ..old_file.clone()
    };
    assert!(!s.reseal_cell_file(&old_file, &new_file).await.unwrap());
    let current = switchboard_store::CellFileBlob {
        content: vec![6; 30],
        ..old_file.clone()
    };
    assert!(s.reseal_cell_file(&current, &new_file).await.unwrap());
    assert_eq!(
        s.cell_file(c.id, "b.txt").await.unwrap().1,
        sealed(&[7; 30], 2)
    );
    // Nothing uses version 1 any more.
    assert!(s.delete_unused_data_key(a.id, 1).await.unwrap());
    assert_eq!(
        s.data_keys(a.id)
            .await
            .unwrap()
            .iter()
            .map(|k| k.version)
            .collect::<Vec<_>>(),
        [2]
    );
}

async fn deleting_an_account_takes_its_keys_and_everything_with_it(s: &dyn Store) {
    let (gone, admin) = account(s, "shred-a").await;
    let (kept, other) = account(s, "shred-b").await;
    let member = user(gone.id, "shred-member", Role::Member, at(1));
    s.create_user(&member).await.unwrap();
    s.create_invite(&invite(gone.id, admin.id, "shred-invite", at(100_000)))
        .await
        .unwrap();
    s.insert_data_key(&wrapped(gone.id, 1, "m", at(1)))
        .await
        .unwrap();
    s.insert_data_key(&wrapped(kept.id, 1, "m", at(1)))
        .await
        .unwrap();
    let mut session = stored_session(s, &admin, at(2)).await;
    go_live(s, &mut session, at(3)).await;
    let mut ended = stored_session(s, &admin, at(4)).await;
    end(s, &mut ended, EndReason::EndedByUser, at(5)).await;
    let cam = camera(s, gone.id, "door", at(1)).await;
    let snap = NewSnapshot {
        key_version: Some(1),
        ..snapshot(&cam, at(6), 8)
    };
    s.insert_snapshot(&snap).await.unwrap();
    let c = cell(&admin, "shred-cell1", at(1));
    s.create_cell(&c).await.unwrap();
    s.put_cell_file(c.id, "a.txt", &sealed(&[1; 20], 1), 4, at(2), 10)
        .await
        .unwrap();
    let keys = NewTaughtObject {
        template: sealed(&[3; 16], 1),
        ..taught(&snap, "keys", at(7))
    };
    s.create_taught_object(&keys, 20).await.unwrap();
    s.insert_taught_matches(snap.id, &[found(&keys, 0.8)], at(8))
        .await
        .unwrap();
    let kept_cam = camera(s, kept.id, "kept", at(1)).await;
    s.insert_snapshot(&snapshot(&kept_cam, at(6), 8))
        .await
        .unwrap();

    s.delete_account(gone.id).await.unwrap();
    assert!(s.data_keys(gone.id).await.unwrap().is_empty());
    assert!(is_not_found(s.account(gone.id).await));
    assert!(is_not_found(s.user(admin.id).await));
    assert!(is_not_found(s.user(member.id).await));
    assert!(is_not_found(s.session(session.suid).await));
    assert!(is_not_found(s.snapshot_jpeg(gone.id, snap.id).await));
    assert!(is_not_found(s.cell(c.id).await));
    assert!(s.cell_files(c.id).await.unwrap().is_empty());
    assert!(s.taught_objects(gone.id).await.unwrap().is_empty());
    assert!(s.taught_templates(gone.id, None).await.unwrap().is_empty());
    assert!(
        s.cdrs(at(0), at(100))
            .await
            .unwrap()
            .iter()
            .all(|c| c.account_id != gone.id),
        "its records go too"
    );
    assert!(
        s.key_usage()
            .await
            .unwrap()
            .iter()
            .all(|u| u.account_id != gone.id)
    );
    // The other account is untouched, and a second deletion finds nothing.
    assert_eq!(s.data_keys(kept.id).await.unwrap().len(), 1);
    assert_eq!(s.user(other.id).await.unwrap().id, other.id);
    assert_eq!(s.cameras(kept.id).await.unwrap().len(), 1);
    assert!(is_not_found(s.delete_account(gone.id).await));
}

// ---------------------------------------------------------------------------------------------
// Taught objects
// ---------------------------------------------------------------------------------------------

fn taught(snap: &NewSnapshot, name: &str, created: Timestamp) -> NewTaughtObject {
    NewTaughtObject {
        id: uuid::Uuid::new_v4(),
        account_id: snap.account_id,
        name: name.to_owned(),
        name_key: name.to_lowercase(),
        template: plain(format!("template of {name}").as_bytes()),
        snapshot_id: snap.id,
        bbox: NormalizedBox {
            x: 0.25,
            y: 0.5,
            w: 0.125,
            h: 0.25,
        },
        created_at: created,
    }
}

fn found(object: &NewTaughtObject, score: f64) -> NewTaughtMatch {
    NewTaughtMatch {
        taught_object_id: object.id,
        score,
        bbox: NormalizedBox {
            x: 0.5,
            y: 0.25,
            w: 0.125,
            h: 0.125,
        },
    }
}

async fn taught_objects_are_per_account_named_once_and_capped(s: &dyn Store) {
    let (a, _) = account(s, "teach-a").await;
    let (b, _) = account(s, "teach-b").await;
    let cam = camera(s, a.id, "hall", at(0)).await;
    let snap = snapshot(&cam, at(10), 10);
    s.insert_snapshot(&snap).await.unwrap();

    let keys = taught(&snap, "My Keys", at(20));
    assert_eq!(
        s.create_taught_object(&keys, 2).await.unwrap(),
        Taught::Created
    );
    // Another account cannot teach from this snapshot, and a name is taken by its key.
    let foreign = NewTaughtObject {
        account_id: b.id,
        ..taught(&snap, "wallet", at(21))
    };
    assert!(is_not_found(s.create_taught_object(&foreign, 2).await));
    let again = NewTaughtObject {
        name: "my keys".into(),
        ..taught(&snap, "my keys", at(21))
    };
    assert!(is_conflict(s.create_taught_object(&again, 2).await));
    let wallet = taught(&snap, "wallet", at(22));
    assert_eq!(
        s.create_taught_object(&wallet, 2).await.unwrap(),
        Taught::Created
    );
    // Past the maximum nothing is stored.
    let glasses = taught(&snap, "glasses", at(23));
    assert_eq!(
        s.create_taught_object(&glasses, 2).await.unwrap(),
        Taught::Full { max: 2 }
    );
    assert!(is_not_found(s.taught_object(a.id, glasses.id).await));

    let listed = s.taught_objects(a.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["My Keys", "wallet"]
    );
    let first = &listed[0];
    assert_eq!(first.id, keys.id);
    assert_eq!(first.account_id, a.id);
    assert_eq!(first.snapshot_id, Some(snap.id));
    assert_eq!(first.bbox, keys.bbox);
    assert_eq!((first.created_at, first.updated_at), (at(20), at(20)));
    assert_eq!((first.matches, first.latest_match.clone()), (0, None));
    assert_eq!(first.scan, None);
    assert!(s.taught_objects(b.id).await.unwrap().is_empty());
    assert!(is_not_found(s.taught_object(b.id, keys.id).await));

    let mut named = vec![
        (keys.id, "My Keys".to_owned()),
        (wallet.id, "wallet".to_owned()),
    ];
    named.sort();
    assert_eq!(s.taught_names(a.id).await.unwrap(), named);
    let ids: Vec<uuid::Uuid> = named.iter().map(|(id, _)| *id).collect();
    let templates = s.taught_templates(a.id, None).await.unwrap();
    assert_eq!(templates.iter().map(|t| t.id).collect::<Vec<_>>(), ids);
    let one = s.taught_templates(a.id, Some(keys.id)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].template, keys.template);
    assert!(
        s.taught_templates(b.id, Some(keys.id))
            .await
            .unwrap()
            .is_empty()
    );

    // Renaming: to a free name, not to a taken one, not another account's.
    s.rename_taught_object(a.id, keys.id, "House keys", "house keys", at(30))
        .await
        .unwrap();
    let renamed = s.taught_object(a.id, keys.id).await.unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.updated_at),
        ("House keys", at(30))
    );
    assert!(is_conflict(
        s.rename_taught_object(a.id, keys.id, "Wallet", "wallet", at(31))
            .await
    ));
    assert!(is_not_found(
        s.rename_taught_object(b.id, keys.id, "x", "x", at(31))
            .await
    ));

    // Deleting frees a place and the name.
    assert!(is_not_found(s.delete_taught_object(b.id, wallet.id).await));
    s.delete_taught_object(a.id, wallet.id).await.unwrap();
    assert!(is_not_found(s.delete_taught_object(a.id, wallet.id).await));
    let wallet_again = taught(&snap, "wallet", at(40));
    assert_eq!(
        s.create_taught_object(&wallet_again, 2).await.unwrap(),
        Taught::Created
    );
}

async fn taught_matches_are_newest_first_and_go_with_their_snapshots(s: &dyn Store) {
    let (a, _) = account(s, "match-a").await;
    let (b, _) = account(s, "match-b").await;
    let hall = camera(s, a.id, "hall", at(0)).await;
    let door = camera(s, a.id, "door", at(0)).await;
    let source = snapshot(&hall, at(5), 10);
    let early = snapshot(&hall, at(10), 10);
    let late = snapshot(&door, at(20), 10);
    for snap in [&source, &early, &late] {
        s.insert_snapshot(snap).await.unwrap();
    }
    let keys = taught(&source, "keys", at(6));
    let wallet = taught(&source, "wallet", at(6));
    s.create_taught_object(&keys, 20).await.unwrap();
    s.create_taught_object(&wallet, 20).await.unwrap();
    let other_cam = camera(s, b.id, "garage", at(0)).await;
    let other_snap = snapshot(&other_cam, at(10), 10);
    s.insert_snapshot(&other_snap).await.unwrap();
    let theirs = taught(&other_snap, "keys", at(11));
    s.create_taught_object(&theirs, 20).await.unwrap();

    assert_eq!(
        s.insert_taught_matches(early.id, &[found(&keys, 0.5)], at(11))
            .await
            .unwrap(),
        1
    );
    // Found again: replaced, not doubled. Another account's object is left out.
    assert_eq!(
        s.insert_taught_matches(
            early.id,
            &[found(&keys, 0.75), found(&wallet, 0.6), found(&theirs, 0.9)],
            at(12)
        )
        .await
        .unwrap(),
        2
    );
    s.insert_taught_matches(late.id, &[found(&keys, 0.7)], at(21))
        .await
        .unwrap();
    assert!(is_not_found(
        s.insert_taught_matches(uuid::Uuid::new_v4(), &[found(&keys, 0.7)], at(21))
            .await
    ));
    assert_eq!(
        s.insert_taught_matches(early.id, &[], at(22))
            .await
            .unwrap(),
        0
    );

    let search = |ids: Vec<uuid::Uuid>| TaughtSearch {
        account_id: a.id,
        taught_object_ids: ids,
        camera_id: None,
        since: None,
        until: None,
        limit: 10,
    };
    let hits = s.taught_hits(&search(vec![keys.id])).await.unwrap();
    assert_eq!(
        hits.iter()
            .map(|h| (h.snapshot_id, h.score))
            .collect::<Vec<_>>(),
        [(late.id, 0.7), (early.id, 0.75)]
    );
    assert_eq!(hits[0].name, "keys");
    assert_eq!(hits[0].camera_id, door.id);
    assert_eq!(hits[0].camera_name, "door");
    assert_eq!(hits[0].taken_at, at(20));
    assert_eq!(hits[0].bbox, found(&keys, 0.7).bbox);
    let both = s
        .taught_hits(&search(vec![keys.id, wallet.id]))
        .await
        .unwrap();
    assert_eq!(
        both.iter()
            .map(|h| (h.snapshot_id, h.taught_object_id))
            .collect::<Vec<_>>(),
        [
            (late.id, keys.id),
            (early.id, keys.id),
            (early.id, wallet.id)
        ]
    );
    let on_hall = s
        .taught_hits(&TaughtSearch {
            camera_id: Some(hall.id),
            ..search(vec![keys.id])
        })
        .await
        .unwrap();
    assert_eq!(on_hall.len(), 1);
    assert_eq!(on_hall[0].snapshot_id, early.id);
    let before = s
        .taught_hits(&TaughtSearch {
            since: Some(at(10)),
            until: Some(at(20)),
            ..search(vec![keys.id])
        })
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    let one = s
        .taught_hits(&TaughtSearch {
            limit: 1,
            ..search(vec![keys.id, wallet.id])
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    // Another account reads none of them, even naming the object.
    assert!(
        s.taught_hits(&TaughtSearch {
            account_id: b.id,
            ..search(vec![keys.id])
        })
        .await
        .unwrap()
        .is_empty()
    );

    let in_early = s.snapshot_taught_hits(a.id, early.id).await.unwrap();
    assert_eq!(
        in_early
            .iter()
            .map(|h| h.taught_object_id)
            .collect::<Vec<_>>(),
        [keys.id, wallet.id]
    );
    assert!(
        s.snapshot_taught_hits(b.id, early.id)
            .await
            .unwrap()
            .is_empty()
    );

    let listed = s.taught_object(a.id, keys.id).await.unwrap();
    assert_eq!(listed.matches, 2);
    assert_eq!(listed.latest_match.as_ref().unwrap().snapshot_id, late.id);

    // Retention takes the snapshots and their matches; the object stays without its source.
    s.prune_snapshots(at(15), None, at(100)).await.unwrap();
    let listed = s.taught_object(a.id, keys.id).await.unwrap();
    assert_eq!(listed.snapshot_id, None);
    assert_eq!(listed.matches, 1);
    assert!(
        s.snapshot_taught_hits(a.id, early.id)
            .await
            .unwrap()
            .is_empty()
    );
    // Deleting the object takes its matches.
    s.delete_taught_object(a.id, keys.id).await.unwrap();
    assert!(
        s.snapshot_taught_hits(a.id, late.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_look_through_the_history_runs_once_per_account_at_a_time(s: &dyn Store) {
    let (a, _) = account(s, "scan-a").await;
    let (b, _) = account(s, "scan-b").await;
    let cam = camera(s, a.id, "hall", at(0)).await;
    let snaps: Vec<NewSnapshot> = (1..=5).map(|i| snapshot(&cam, at(i * 10), 10)).collect();
    for snap in &snaps {
        s.insert_snapshot(snap).await.unwrap();
    }
    s.finish_snapshot(snaps[2].id, SnapshotState::Failed, &[], None, None)
        .await
        .unwrap();
    let other_cam = camera(s, b.id, "garage", at(0)).await;
    let other_snap = snapshot(&other_cam, at(60), 10);
    s.insert_snapshot(&other_snap).await.unwrap();

    assert_eq!(s.history_size(a.id, 100).await.unwrap(), 4);
    assert_eq!(s.history_size(a.id, 3).await.unwrap(), 3);
    // Newest first, failed pictures left out, in pages.
    let page = s.history_snapshots(a.id, None, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|h| h.id).collect::<Vec<_>>(),
        [snaps[4].id, snaps[3].id]
    );
    assert_eq!(page[0].jpeg, plain(&snaps[4].jpeg));
    assert_eq!(page[0].taken_at, at(50));
    let next = s
        .history_snapshots(a.id, Some((page[1].taken_at, page[1].id)), 10)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|h| h.id).collect::<Vec<_>>(),
        [snaps[1].id, snaps[0].id]
    );

    let keys = taught(&snaps[0], "keys", at(60));
    let wallet = taught(&snaps[0], "wallet", at(60));
    s.create_taught_object(&keys, 20).await.unwrap();
    s.create_taught_object(&wallet, 20).await.unwrap();
    let theirs = taught(&other_snap, "keys", at(61));
    s.create_taught_object(&theirs, 20).await.unwrap();

    s.start_taught_scan(a.id, keys.id, 4, at(100), at(40))
        .await
        .unwrap();
    // One at a time per account; another account's is its own; not another account's object.
    assert!(is_conflict(
        s.start_taught_scan(a.id, wallet.id, 4, at(101), at(41))
            .await
    ));
    assert!(is_conflict(
        s.start_taught_scan(a.id, keys.id, 4, at(101), at(41)).await
    ));
    s.start_taught_scan(b.id, theirs.id, 1, at(101), at(41))
        .await
        .unwrap();
    assert!(is_not_found(
        s.start_taught_scan(b.id, keys.id, 1, at(101), at(41)).await
    ));

    s.taught_scan_progress(keys.id, 2, 1, at(110), false)
        .await
        .unwrap();
    let running = s.taught_object(a.id, keys.id).await.unwrap().scan.unwrap();
    assert_eq!(
        (
            running.started_at,
            running.updated_at,
            running.finished_at,
            running.total,
            running.scanned,
            running.found
        ),
        (at(100), at(110), None, 4, 2, 1)
    );
    // A look that stopped reporting (its node died) does not block the next one.
    s.start_taught_scan(a.id, wallet.id, 4, at(200), at(150))
        .await
        .unwrap();
    s.taught_scan_progress(wallet.id, 4, 0, at(210), true)
        .await
        .unwrap();
    let done = s
        .taught_object(a.id, wallet.id)
        .await
        .unwrap()
        .scan
        .unwrap();
    assert_eq!((done.finished_at, done.scanned), (Some(at(210)), 4));
    assert!(is_not_found(
        s.taught_scan_progress(uuid::Uuid::new_v4(), 0, 0, at(1), true)
            .await
    ));
}

async fn taught_templates_are_resealed_and_hold_their_key(s: &dyn Store) {
    let (a, _) = account(s, "tkeys-a").await;
    s.insert_data_key(&wrapped(a.id, 1, "m", at(1)))
        .await
        .unwrap();
    s.insert_data_key(&wrapped(a.id, 2, "m", at(2)))
        .await
        .unwrap();
    let cam = camera(s, a.id, "hall", at(0)).await;
    let snap = snapshot(&cam, at(10), 10);
    s.insert_snapshot(&snap).await.unwrap();
    let old = NewTaughtObject {
        template: sealed(&[1; 16], 1),
        ..taught(&snap, "keys", at(11))
    };
    let bare = taught(&snap, "wallet", at(12));
    s.create_taught_object(&old, 20).await.unwrap();
    s.create_taught_object(&bare, 20).await.unwrap();

    let usage = s.key_usage().await.unwrap();
    let of = |version: Option<u32>| {
        usage
            .iter()
            .find(|u| u.account_id == a.id && u.key_version == version)
            .map(|u| u.taught_objects)
    };
    assert_eq!((of(Some(1)), of(None)), (Some(1), Some(1)));

    let plain_ones = s
        .stale_taught_templates(Stale::Plain, "", 10)
        .await
        .unwrap();
    assert_eq!(
        plain_ones.iter().map(|t| t.id).collect::<Vec<_>>(),
        [bare.id]
    );
    let below = s
        .stale_taught_templates(
            Stale::Below {
                account: a.id,
                version: 2,
            },
            "",
            10,
        )
        .await
        .unwrap();
    let mut expected = vec![old.id, bare.id];
    expected.sort();
    assert_eq!(below.iter().map(|t| t.id).collect::<Vec<_>>(), expected);
    // Version 1 seals a template: it stays until that is resealed.
    assert!(!s.delete_unused_data_key(a.id, 1).await.unwrap());
    let read = below.iter().find(|t| t.id == old.id).unwrap().clone();
    let new = TaughtBlob {
        template: vec![2; 16],
        key_version: Some(2),
        ..read.clone()
    };
    assert!(s.reseal_taught_template(&read, &new).await.unwrap());
    // A second pass that read the old version changes nothing.
    assert!(!s.reseal_taught_template(&read, &new).await.unwrap());
    assert_eq!(
        s.taught_templates(a.id, Some(old.id)).await.unwrap()[0].template,
        sealed(&[2; 16], 2)
    );
    assert!(s.delete_unused_data_key(a.id, 1).await.unwrap());
}
