//! Write transactions on SQLite, kept by hand.
//!
//! sqlx's own `Transaction` counts its depth on the connection and trusts
//! that `ROLLBACK` works. After `SQLITE_FULL` or `SQLITE_IOERR` SQLite has
//! often rolled the transaction back by itself; sqlx's rollback then fails,
//! the depth stays at 1, and the next `begin()` on that pooled connection
//! issues a `SAVEPOINT` instead of `BEGIN`, which opens a transaction that
//! nobody commits: the write lock is held for ever and every later write
//! fails with `database is locked` (issue 7, item 1).
//!
//! A [`WriteTx`] starts with `BEGIN IMMEDIATE` (the write lock is taken at
//! once, so two writers never deadlock upgrading a read lock) and ends with
//! `COMMIT`. If it does not commit (a statement failed, `COMMIT` failed, or
//! the future was dropped), the connection is not trusted again: a file
//! database closes it (closing rolls back whatever SQLite still holds, and
//! the pool opens a fresh connection); the in-memory database, whose data
//! lives in its one connection, rolls back explicitly instead.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

/// An open `BEGIN IMMEDIATE` transaction on a pooled connection.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
    in_memory: bool,
}

impl WriteTx {
    pub(crate) async fn begin(pool: &SqlitePool, in_memory: bool) -> crate::Result<Self> {
        let mut conn = pool.acquire().await?;
        if let Err(e) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await {
            abandon(conn, in_memory).await;
            return Err(e.into());
        }
        Ok(Self {
            conn: Some(conn),
            in_memory,
        })
    }

    pub(crate) async fn commit(mut self) -> crate::Result<()> {
        let mut conn = self.conn.take().expect("a WriteTx holds its connection");
        match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                abandon(conn, self.in_memory).await;
                Err(e.into())
            }
        }
    }
}

/// Gives up on a connection after a failed write.
async fn abandon(mut conn: PoolConnection<Sqlite>, in_memory: bool) {
    if in_memory {
        // "no transaction is active" is fine: SQLite rolled back already.
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    } else {
        let _ = conn.close().await;
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.in_memory {
            conn.close_on_drop();
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(abandon(conn, true));
            }
            // No runtime left: the process is ending with its database.
            Err(_) => conn.close_on_drop(),
        }
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("a WriteTx holds its connection")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("a WriteTx holds its connection")
    }
}
