//! The local on-disk store: SQLite metadata, registration, closures, GC, verify, optimise.
