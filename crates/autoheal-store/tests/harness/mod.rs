//! The backends every store test runs on, shared by the test binaries
//! (`contract.rs`, `outbox.rs`).
//!
//! - SQLite: a fresh file in a temp directory per test.
//! - PostgreSQL: a fresh database per test on the server named by
//!   `AUTOHEAL_TEST_POSTGRES_URL`; skipped (passing) without it unless
//!   `AUTOHEAL_REQUIRE_POSTGRES=1`.
#![allow(dead_code)]

use autoheal_store::{open, Store};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A fresh SQLite file per test.
pub async fn sqlite_url<F, Fut>(scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("autoheal.db").display());
    scenario(url).await;
}

pub async fn sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    sqlite_url(|url| async move {
        let store = open(&url).await.expect("open sqlite store");
        assert_eq!(store.backend(), "sqlite");
        scenario(store).await;
    })
    .await;
}

/// The admin URL, or None (skip) when unset; panics when unset but
/// required.
fn postgres_admin_url() -> Option<String> {
    match std::env::var("AUTOHEAL_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("AUTOHEAL_REQUIRE_POSTGRES").as_deref() == Ok("1") => panic!(
            "AUTOHEAL_REQUIRE_POSTGRES=1 but AUTOHEAL_TEST_POSTGRES_URL is not set \
             (start one with crates/autoheal-store/scripts/start-test-postgres.sh)"
        ),
        _ => {
            println!("skipped: AUTOHEAL_TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// The admin URL with its database name replaced.
fn with_database(admin_url: &str, db: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

fn fresh_name() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "autoheal_test_{}_{}_{}",
        std::process::id(),
        nanos,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh database per test, dropped afterwards (also when the scenario
/// panics? no: then it is left behind for inspection).
pub async fn postgres_url<F, Fut>(scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let name = fresh_name();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to AUTOHEAL_TEST_POSTGRES_URL");
    // `name` is ours: [a-z0-9_] only.
    let mut tries = 0;
    loop {
        match sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
        {
            Ok(_) => break,
            // Concurrent CREATE DATABASE can collide on template1.
            Err(e) if tries < 20 && e.to_string().contains("being accessed") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("CREATE DATABASE {name}: {e}"),
        }
    }
    scenario(with_database(&admin_url, &name)).await;
    let _ = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    let _ = admin.close().await;
}

pub async fn postgres<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    postgres_url(|url| async move {
        let store = open(&url).await.expect("open postgres store");
        assert_eq!(store.backend(), "postgres");
        scenario(store).await;
    })
    .await;
}

#[test]
fn the_database_name_is_replaced_in_the_admin_url() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres", "x"),
        "postgres://u:p@h:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/postgres?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

/// Every scenario named, as a test on SQLite and one on PostgreSQL: `store`
/// scenarios take an opened store, `url` ones its URL (they reopen it).
macro_rules! both_backends {
    (store: [$($store:ident),* $(,)?], url: [$($url:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $store() {
                crate::harness::sqlite(super::$store).await;
            })*
            $(#[tokio::test]
            async fn $url() {
                crate::harness::sqlite_url(super::$url).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $store() {
                crate::harness::postgres(super::$store).await;
            })*
            $(#[tokio::test]
            async fn $url() {
                crate::harness::postgres_url(super::$url).await;
            })*
        }
    };
}
