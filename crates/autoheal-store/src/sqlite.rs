//! TODO: SQLite store.
