//! The schema migrations of both dialects, embedded in the binary.
//!
//! The files live in `migrations/sqlite/` and `migrations/postgres/`, named the
//! way `sqlx migrate` expects (`<version>_<description>.sql`), and are applied
//! by sqlx's [`Migrator`] (which records them in `_sqlx_migrations`, so
//! running them again is a no-op). They are listed here with `include_str!`
//! rather than `sqlx::migrate!` because that macro needs sqlx's `macros`
//! feature, which the workspace does not enable (enabling it changes the
//! shared `Cargo.lock`). The checksums are the same either way, so switching to
//! `sqlx::migrate!("./migrations/sqlite")` later is a drop-in change. A unit
//! test fails if a file in either folder is not listed here.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::SqlSafeStr;

/// One embedded migration: (version, description, SQL).
type Embedded = (i64, &'static str, &'static str);

const SQLITE: &[Embedded] = &[
    (
        20261123000001,
        "init",
        include_str!("../migrations/sqlite/20261123000001_init.sql"),
    ),
    (
        20261202000001,
        "probe",
        include_str!("../migrations/sqlite/20261202000001_probe.sql"),
    ),
    (
        20261203000001,
        "accounts",
        include_str!("../migrations/sqlite/20261203000001_accounts.sql"),
    ),
    (
        20261203000002,
        "secrets",
        include_str!("../migrations/sqlite/20261203000002_secrets.sql"),
    ),
    (
        20261203000003,
        "totp",
        include_str!("../migrations/sqlite/20261203000003_totp.sql"),
    ),
    (
        20261204000001,
        "config_objects",
        include_str!("../migrations/sqlite/20261204000001_config_objects.sql"),
    ),
    (
        20261204000002,
        "container_choices",
        include_str!("../migrations/sqlite/20261204000002_container_choices.sql"),
    ),
    (
        20261204000003,
        "webhooks",
        include_str!("../migrations/sqlite/20261204000003_webhooks.sql"),
    ),
    (
        20261205000001,
        "outbox",
        include_str!("../migrations/sqlite/20261205000001_outbox.sql"),
    ),
];

const POSTGRES: &[Embedded] = &[
    (
        20261123000001,
        "init",
        include_str!("../migrations/postgres/20261123000001_init.sql"),
    ),
    (
        20261202000001,
        "probe",
        include_str!("../migrations/postgres/20261202000001_probe.sql"),
    ),
    (
        20261203000001,
        "accounts",
        include_str!("../migrations/postgres/20261203000001_accounts.sql"),
    ),
    (
        20261203000002,
        "secrets",
        include_str!("../migrations/postgres/20261203000002_secrets.sql"),
    ),
    (
        20261203000003,
        "totp",
        include_str!("../migrations/postgres/20261203000003_totp.sql"),
    ),
    (
        20261204000001,
        "config_objects",
        include_str!("../migrations/postgres/20261204000001_config_objects.sql"),
    ),
    (
        20261204000002,
        "container_choices",
        include_str!("../migrations/postgres/20261204000002_container_choices.sql"),
    ),
    (
        20261204000003,
        "webhooks",
        include_str!("../migrations/postgres/20261204000003_webhooks.sql"),
    ),
    (
        20261205000001,
        "outbox",
        include_str!("../migrations/postgres/20261205000001_outbox.sql"),
    ),
];

fn migrator(embedded: &[Embedded]) -> Migrator {
    Migrator::with_migrations(
        embedded
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The SQLite migrations.
pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// The PostgreSQL migrations.
pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_on_disk(dialect: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations folder exists")
            .map(|e| {
                e.expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    fn listed(embedded: &[Embedded]) -> Vec<String> {
        let mut names: Vec<String> = embedded
            .iter()
            .map(|(v, d, _)| format!("{v}_{d}.sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_for_both_dialects() {
        assert_eq!(listed(SQLITE), files_on_disk("sqlite"));
        assert_eq!(listed(POSTGRES), files_on_disk("postgres"));
    }

    #[test]
    fn both_dialects_have_the_same_versions() {
        let v = |e: &[Embedded]| e.iter().map(|(v, d, _)| (*v, *d)).collect::<Vec<_>>();
        assert_eq!(v(SQLITE), v(POSTGRES));
    }
}
