//! TODO: PostgreSQL store.
