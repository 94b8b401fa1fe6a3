//! The SQLite metadata database of the local store.
//!
//! The schema follows Nix's `db.sqlite` (tables `ValidPaths`, `Refs`,
//! `DerivationOutputs`) so that the same questions can be asked the same way.
//! This module only stores and retrieves rows: it knows nothing about the
//! files on disk, and takes paths as the full logical store path strings
//! (`/b8g/store/<hash>-<name>`). Callers keep the invariant that the closure
//! of a valid path is valid; the foreign keys make SQLite refuse a reference to
//! an unregistered path and refuse to invalidate a path that still has a
//! valid referrer.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use thiserror::Error;

/// Errors of the metadata database.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot open store database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot set up the schema of store database {path}: {source}")]
    Schema {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store database query failed ({what}): {source}")]
    Query {
        what: &'static str,
        source: rusqlite::Error,
    },
    #[error("cannot register {path}: its reference {reference} is not a valid path")]
    MissingReference { path: String, reference: String },
    #[error("cannot invalidate {path}: it is still referenced by valid path {referrer}")]
    StillReferenced { path: String, referrer: String },
    #[error("store database row for {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
    #[error(
        "store database {path} has schema version {found}; this b8g knows up to {known} \
         (a newer b8g made it: use that one)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

fn q(what: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError {
    move |source| DbError::Query { what, source }
}

/// One registered path, as stored in the database.
///
/// `nar_hash` is kept in Nix's database form, `sha256:<base16>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbPathInfo {
    pub path: String,
    pub nar_hash: String,
    pub nar_size: u64,
    pub registration_time: i64,
    pub deriver: Option<String>,
    pub ca: Option<String>,
    /// Signatures, each `keyname:base64`, stored space-separated like Nix.
    pub signatures: Vec<String>,
    /// Full store paths this path refers to (may include itself).
    pub references: BTreeSet<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ValidPaths (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    path             TEXT UNIQUE NOT NULL,
    hash             TEXT NOT NULL,
    registrationTime INTEGER NOT NULL,
    deriver          TEXT,
    narSize          INTEGER,
    ultimate         INTEGER,
    sigs             TEXT,
    ca               TEXT
);
CREATE TABLE IF NOT EXISTS Refs (
    referrer  INTEGER NOT NULL,
    reference INTEGER NOT NULL,
    PRIMARY KEY (referrer, reference),
    FOREIGN KEY (referrer) REFERENCES ValidPaths(id) ON DELETE CASCADE,
    FOREIGN KEY (reference) REFERENCES ValidPaths(id) ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS IndexReferrer ON Refs(referrer);
CREATE INDEX IF NOT EXISTS IndexReference ON Refs(reference);
-- A self-reference must not stop a path from being deleted (RESTRICT above).
CREATE TRIGGER IF NOT EXISTS DeleteSelfRefs BEFORE DELETE ON ValidPaths
BEGIN
    DELETE FROM Refs WHERE referrer = old.id AND reference = old.id;
END;
CREATE TABLE IF NOT EXISTS DerivationOutputs (
    drv  INTEGER NOT NULL,
    id   TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (drv, id),
    FOREIGN KEY (drv) REFERENCES ValidPaths(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS IndexDerivationOutputs ON DerivationOutputs(path);
";

/// The schema version this b8g writes, kept in SQLite's `user_version`. A
/// database made before versions were recorded (0) holds [`SCHEMA`] as it was
/// at version 1. Each later version is one entry of [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// The statements that take a database from version `i + 1` to `i + 2`, run
/// in one transaction with the version bump, so a crash leaves the old
/// version or the new one. None yet: version 1 is the current schema.
const MIGRATIONS: &[&str] = &[];

/// Brings a database whose schema is [`SCHEMA`] at some version up to the
/// last of `migrations`; refuses one newer than it knows.
fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<(), DbError> {
    let known = 1 + migrations.len() as i64;
    let schema_err = |source| DbError::Schema {
        path: path.to_owned(),
        source,
    };
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(schema_err)?;
    if found > known {
        return Err(DbError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    let version = |conn: &Connection| -> Result<i64, DbError> {
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map_err(schema_err)
    };
    if found == 0 {
        // Made before versions were recorded: the version-1 schema.
        conn.pragma_update(None, "user_version", 1)
            .map_err(schema_err)?;
    }
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(schema_err)?;
        // Read inside the transaction: another process may have migrated meanwhile.
        let at = version(&tx)?;
        if at >= known {
            return tx.commit().map_err(schema_err);
        }
        tx.execute_batch(migrations[(at - 1) as usize])
            .map_err(schema_err)?;
        tx.pragma_update(None, "user_version", at + 1)
            .map_err(schema_err)?;
        tx.commit().map_err(schema_err)?;
    }
}

/// An open connection to the store database.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, in WAL mode with
    /// full synchronisation so that a committed registration survives a crash.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let open_err = |source| DbError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        // Several processes (adds, builds, gc) share the database; wait for
        // each other rather than failing with SQLITE_BUSY.
        conn.busy_timeout(Duration::from_secs(600))
            .map_err(open_err)?;
        let schema_err = |source| DbError::Schema {
            path: path.to_owned(),
            source,
        };
        // Switching to WAL and creating the schema can meet SQLITE_BUSY without
        // the busy handler being asked (another process opening the same new
        // database at the same moment): retry those, within the same bound.
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        loop {
            match Self::set_up(&conn) {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if matches!(
                        f.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(schema_err(e)),
            }
        }
        let mut conn = conn;
        migrate(&mut conn, path, MIGRATIONS)?;
        Ok(Db { conn })
    }

    fn set_up(conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)
    }

    /// Registers `infos` as valid in one transaction (all or none).
    ///
    /// A path that is already valid has its metadata replaced. Every reference
    /// must be valid already or be part of `infos`.
    pub fn register(&mut self, infos: &[DbPathInfo]) -> Result<(), DbError> {
        self.register_with_outputs(infos, None)
    }

    /// Like [`register`](Self::register), and in the same transaction records
    /// the output paths of derivation `drv` (which must be valid already or be
    /// part of `infos`), as [`set_derivation_outputs`](Self::set_derivation_outputs)
    /// does. A build's outputs and its derivation's output mapping then cost
    /// one durable commit instead of two.
    pub fn register_with_outputs(
        &mut self,
        infos: &[DbPathInfo],
        drv_outputs: Option<(&str, &[(String, String)])>,
    ) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(q("begin registration"))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO ValidPaths (path, hash, registrationTime, deriver, narSize, sigs, ca)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(path) DO UPDATE SET hash = excluded.hash,
                        registrationTime = excluded.registrationTime, deriver = excluded.deriver,
                        narSize = excluded.narSize, sigs = excluded.sigs, ca = excluded.ca",
                )
                .map_err(q("prepare insert"))?;
            for info in infos {
                let sigs = if info.signatures.is_empty() {
                    None
                } else {
                    Some(info.signatures.join(" "))
                };
                upsert
                    .execute(params![
                        info.path,
                        info.nar_hash,
                        info.registration_time,
                        info.deriver,
                        info.nar_size as i64,
                        sigs,
                        info.ca
                    ])
                    .map_err(q("insert valid path"))?;
            }
            let mut id_of = tx
                .prepare_cached("SELECT id FROM ValidPaths WHERE path = ?1")
                .map_err(q("prepare id"))?;
            let mut clear = tx
                .prepare_cached("DELETE FROM Refs WHERE referrer = ?1")
                .map_err(q("prepare clear refs"))?;
            let mut add_ref = tx
                .prepare_cached("INSERT OR IGNORE INTO Refs (referrer, reference) VALUES (?1, ?2)")
                .map_err(q("prepare insert ref"))?;
            for info in infos {
                let referrer: i64 = id_of
                    .query_row([&info.path], |r| r.get(0))
                    .map_err(q("look up id"))?;
                clear.execute([referrer]).map_err(q("clear refs"))?;
                for reference in &info.references {
                    let target: Option<i64> = id_of
                        .query_row([reference], |r| r.get(0))
                        .optional()
                        .map_err(q("look up reference"))?;
                    let Some(target) = target else {
                        return Err(DbError::MissingReference {
                            path: info.path.clone(),
                            reference: reference.clone(),
                        });
                    };
                    add_ref
                        .execute([referrer, target])
                        .map_err(q("insert ref"))?;
                }
            }
            if let Some((drv, outputs)) = drv_outputs {
                insert_derivation_outputs(&tx, drv, outputs)?;
            }
        }
        tx.commit().map_err(q("commit registration"))
    }

    /// Whether `path` is registered as valid.
    pub fn is_valid(&self, path: &str) -> Result<bool, DbError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM ValidPaths WHERE path = ?1")
            .map_err(q("prepare"))?;
        st.exists([path]).map_err(q("is valid"))
    }

    /// The metadata of `path`, or `None` if it is not valid.
    pub fn path_info(&self, path: &str) -> Result<Option<DbPathInfo>, DbError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, hash, registrationTime, deriver, narSize, sigs, ca FROM ValidPaths WHERE path = ?1",
            )
            .map_err(q("prepare path info"))?;
        let row = st
            .query_row([path], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .optional()
            .map_err(q("path info"))?;
        let Some((id, nar_hash, registration_time, deriver, nar_size, sigs, ca)) = row else {
            return Ok(None);
        };
        let nar_size = nar_size
            .and_then(|s| u64::try_from(s).ok())
            .ok_or_else(|| DbError::Malformed {
                path: path.to_owned(),
                reason: "narSize is missing or negative".into(),
            })?;
        let mut refs = self
            .conn
            .prepare_cached("SELECT p.path FROM Refs r JOIN ValidPaths p ON p.id = r.reference WHERE r.referrer = ?1")
            .map_err(q("prepare references"))?;
        let references = refs
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(q("references"))?
            .collect::<Result<_, _>>()
            .map_err(q("references"))?;
        Ok(Some(DbPathInfo {
            path: path.to_owned(),
            nar_hash,
            nar_size,
            registration_time,
            deriver,
            ca,
            signatures: sigs
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            references,
        }))
    }

    /// Valid paths that refer to `path` (including itself if self-referencing).
    pub fn referrers(&self, path: &str) -> Result<BTreeSet<String>, DbError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT p.path FROM Refs r JOIN ValidPaths p ON p.id = r.referrer
                 WHERE r.reference = (SELECT id FROM ValidPaths WHERE path = ?1)",
            )
            .map_err(q("prepare referrers"))?;
        let rows = st
            .query_map([path], |r| r.get::<_, String>(0))
            .map_err(q("referrers"))?;
        rows.collect::<Result<_, _>>().map_err(q("referrers"))
    }

    /// Every valid path with its NAR hash and size, in path order.
    pub fn all_valid(&self) -> Result<Vec<(String, String, u64)>, DbError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT path, hash, narSize FROM ValidPaths ORDER BY path")
            .map_err(q("prepare"))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
                ))
            })
            .map_err(q("all valid paths"))?;
        rows.collect::<Result<_, _>>().map_err(q("all valid paths"))
    }

    /// The whole reference graph: referrer path → referenced paths.
    /// Loaded in one query because GC and closure computations need most of it.
    pub fn reference_graph(&self) -> Result<HashMap<String, Vec<String>>, DbError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT a.path, b.path FROM Refs r
                 JOIN ValidPaths a ON a.id = r.referrer JOIN ValidPaths b ON b.id = r.reference",
            )
            .map_err(q("prepare graph"))?;
        let mut graph: HashMap<String, Vec<String>> = HashMap::new();
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(q("reference graph"))?;
        for row in rows {
            let (from, to) = row.map_err(q("reference graph"))?;
            graph.entry(from).or_default().push(to);
        }
        Ok(graph)
    }

    /// Removes `paths` from the valid set in one transaction.
    ///
    /// Fails (changing nothing) if a path outside `paths` still refers to one
    /// of them: invalidating it would break the closure invariant.
    pub fn invalidate(&mut self, paths: &[String]) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(q("begin invalidation"))?;
        {
            // Drop references among the doomed paths first so their order does not matter.
            let mut clear = tx
                .prepare_cached(
                    "DELETE FROM Refs WHERE referrer = (SELECT id FROM ValidPaths WHERE path = ?1)",
                )
                .map_err(q("prepare clear refs"))?;
            for p in paths {
                clear.execute([p]).map_err(q("clear refs"))?;
            }
            let mut outside = tx
                .prepare_cached(
                    "SELECT a.path FROM Refs r JOIN ValidPaths a ON a.id = r.referrer
                     WHERE r.reference = (SELECT id FROM ValidPaths WHERE path = ?1) LIMIT 1",
                )
                .map_err(q("prepare referrer check"))?;
            for p in paths {
                let referrer: Option<String> = outside
                    .query_row([p], |r| r.get(0))
                    .optional()
                    .map_err(q("referrer check"))?;
                if let Some(referrer) = referrer {
                    return Err(DbError::StillReferenced {
                        path: p.clone(),
                        referrer,
                    });
                }
            }
            let mut del = tx
                .prepare_cached("DELETE FROM ValidPaths WHERE path = ?1")
                .map_err(q("prepare invalidate"))?;
            for p in paths {
                del.execute([p]).map_err(q("invalidate"))?;
            }
        }
        tx.commit().map_err(q("commit invalidation"))
    }

    /// Records the output paths of a registered derivation (`drv` must be valid).
    pub fn set_derivation_outputs(
        &mut self,
        drv: &str,
        outputs: &[(String, String)],
    ) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(q("begin derivation outputs"))?;
        insert_derivation_outputs(&tx, drv, outputs)?;
        tx.commit().map_err(q("commit derivation outputs"))
    }

    /// The recorded outputs (name, path) of derivation `drv`.
    pub fn derivation_outputs(&self, drv: &str) -> Result<Vec<(String, String)>, DbError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT o.id, o.path FROM DerivationOutputs o JOIN ValidPaths v ON v.id = o.drv
                 WHERE v.path = ?1 ORDER BY o.id",
            )
            .map_err(q("prepare derivation outputs"))?;
        let rows = st
            .query_map([drv], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(q("derivation outputs"))?;
        rows.collect::<Result<_, _>>()
            .map_err(q("derivation outputs"))
    }
}

/// Records the outputs of valid derivation `drv` inside transaction `tx`.
fn insert_derivation_outputs(
    tx: &rusqlite::Transaction<'_>,
    drv: &str,
    outputs: &[(String, String)],
) -> Result<(), DbError> {
    let id: Option<i64> = tx
        .query_row("SELECT id FROM ValidPaths WHERE path = ?1", [drv], |r| {
            r.get(0)
        })
        .optional()
        .map_err(q("look up derivation"))?;
    let Some(id) = id else {
        return Err(DbError::MissingReference {
            path: drv.to_owned(),
            reference: drv.to_owned(),
        });
    };
    let mut ins = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO DerivationOutputs (drv, id, path) VALUES (?1, ?2, ?3)",
        )
        .map_err(q("prepare derivation output"))?;
    for (name, path) in outputs {
        ins.execute(params![id, name, path])
            .map_err(q("insert derivation output"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn databases_carry_a_schema_version_and_migrate_forward_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        // A database as b8g made it before versions were recorded.
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.execute_batch(super::SCHEMA).expect("schema");
            conn.execute(
                "INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES ('/b8g/store/x', 'sha256:00', 1, 1)",
                [],
            )
            .expect("row");
        }
        drop(super::Db::open(&path).expect("open unversioned"));
        let mut conn = rusqlite::Connection::open(&path).expect("reopen");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, super::SCHEMA_VERSION);
        // A later b8g's migrations run in order, once, keeping the rows.
        let later = [
            "CREATE TABLE Extra (x INTEGER);",
            "INSERT INTO Extra (x) SELECT COUNT(*) FROM ValidPaths;",
        ];
        super::migrate(&mut conn, &path, &later).expect("migrate");
        super::migrate(&mut conn, &path, &later).expect("migrate again: nothing to do");
        let (v, extra): (i64, i64) = (
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .expect("version"),
            conn.query_row("SELECT SUM(x) FROM Extra", [], |r| r.get(0))
                .expect("migrated rows"),
        );
        assert_eq!((v, extra), (3, 1));
        // This b8g refuses the newer database instead of misreading it.
        drop(conn);
        let e = super::Db::open(&path).err().expect("too new");
        assert!(
            e.to_string()
                .contains("schema version 3; this b8g knows up to 1"),
            "{e}"
        );
    }

    use super::*;

    fn info(path: &str, refs: &[&str]) -> DbPathInfo {
        DbPathInfo {
            path: path.into(),
            nar_hash: "sha256:00".into(),
            nar_size: 8,
            registration_time: 1,
            deriver: None,
            ca: None,
            signatures: vec!["k:sig".into()],
            references: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn register_query_invalidate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("db.sqlite")).expect("open");
        db.register(&[info("/s/a", &["/s/a"]), info("/s/b", &["/s/a"])])
            .expect("register");
        assert!(db.is_valid("/s/a").expect("q"));
        let b = db.path_info("/s/b").expect("q").expect("valid");
        assert_eq!(b.references.iter().collect::<Vec<_>>(), vec!["/s/a"]);
        assert_eq!(b.signatures, vec!["k:sig".to_string()]);
        assert_eq!(db.referrers("/s/a").expect("q").len(), 2);
        // a is still referenced by b
        assert!(matches!(
            db.invalidate(&["/s/a".into()]),
            Err(DbError::StillReferenced { .. })
        ));
        assert!(db.is_valid("/s/a").expect("q"));
        db.invalidate(&["/s/a".into(), "/s/b".into()])
            .expect("invalidate both");
        assert!(!db.is_valid("/s/a").expect("q"));
        assert!(db.all_valid().expect("q").is_empty());
    }

    #[test]
    fn outputs_recorded_with_registration_or_not_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("db.sqlite")).expect("open");
        let outs = vec![("out".to_string(), "/s/o".to_string())];
        // The derivation is not valid: neither the output nor the mapping lands.
        let err = db
            .register_with_outputs(&[info("/s/o", &[])], Some(("/s/d.drv", &outs)))
            .unwrap_err();
        assert!(matches!(err, DbError::MissingReference { .. }), "{err}");
        assert!(!db.is_valid("/s/o").expect("q"));
        db.register(&[info("/s/d.drv", &[])]).expect("register drv");
        db.register_with_outputs(&[info("/s/o", &[])], Some(("/s/d.drv", &outs)))
            .expect("register with outputs");
        assert!(db.is_valid("/s/o").expect("q"));
        assert_eq!(db.derivation_outputs("/s/d.drv").expect("q"), outs);
    }

    #[test]
    fn missing_reference_is_refused_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = Db::open(&dir.path().join("db.sqlite")).expect("open");
        let err = db
            .register(&[info("/s/x", &[]), info("/s/y", &["/s/nope"])])
            .unwrap_err();
        assert!(matches!(err, DbError::MissingReference { .. }));
        assert!(
            !db.is_valid("/s/x").expect("q"),
            "the whole batch must be rolled back"
        );
    }
}
