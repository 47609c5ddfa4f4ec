//! paymux's store: the diesel schema, typed rows, queries and migrations, over SQLite and
//! PostgreSQL. The domain types it stores live in `paymux-domain`.

pub mod db;
