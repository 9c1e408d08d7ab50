// The SQLite schema, as numbered steps applied in order on open. Only ever append a step.
import type { DatabaseSync } from "node:sqlite"
import { AUDIT_SCHEMA } from "./audit.ts"
import { transaction } from "./transaction.ts"

/** `PRAGMA user_version` counts the steps applied. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE revocations (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL CHECK (kind IN ('token', 'session', 'subject', 'key')),
     id TEXT NOT NULL,
     subject TEXT,
     reason TEXT,
     actor TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     cutoff INTEGER NOT NULL,
     UNIQUE (kind, id)
   );
   CREATE INDEX revocations_expires_at ON revocations (expires_at);
   CREATE INDEX revocations_subject ON revocations (subject, seq);
   CREATE TABLE generations (subject TEXT PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE sessions (
     sid TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     gen INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     device TEXT,
     claims TEXT NOT NULL,
     revoked_at INTEGER,
     current_hash TEXT NOT NULL,
     previous_hash TEXT,
     rotated_at INTEGER NOT NULL
   );
   CREATE INDEX sessions_subject ON sessions (subject, created_at);
   CREATE INDEX sessions_expires_at ON sessions (expires_at);
   CREATE TABLE signing_keys (
     kid TEXT PRIMARY KEY,
     alg TEXT NOT NULL,
     private_jwk TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     retired_at INTEGER
   );
   CREATE TABLE changes (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     type TEXT NOT NULL CHECK (type IN ('revoked', 'unrevoked', 'keys')),
     kind TEXT,
     id TEXT,
     revocation TEXT
   );
   CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;`,
  `CREATE TABLE documents (
     collection TEXT NOT NULL,
     id TEXT NOT NULL,
     json TEXT NOT NULL,
     PRIMARY KEY (collection, id)
   ) WITHOUT ROWID;
   CREATE TABLE rate_windows (key TEXT PRIMARY KEY, count INTEGER NOT NULL, reset_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX rate_windows_reset_at ON rate_windows (reset_at);`,
  // When replicas let go of a revocation (see RevocationInput.replicaUntil); rows from before it: their expiry.
  `ALTER TABLE revocations ADD COLUMN replica_until INTEGER NOT NULL DEFAULT 0;
   UPDATE revocations SET replica_until = expires_at;
   CREATE INDEX revocations_replica_until ON revocations (replica_until);`,
  // When a key starts signing (StoredKey.activatesAt); null, for keys from before it, reads as created_at.
  `ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;`,
  // The server's audit log (audit.ts).
  AUDIT_SCHEMA,
]

/** Brings the schema up to date in one write transaction, so processes opening the file at once apply each step once. */
export function migrate(db: DatabaseSync, path: string): void {
  transaction(db, "BEGIN IMMEDIATE", () => {
    const version = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version
    if (version > MIGRATIONS.length) {
      throw new Error(`The database ${path} has schema version ${version}; this revocable knows up to ${MIGRATIONS.length}.`)
    }
    for (const step of MIGRATIONS.slice(version)) db.exec(step)
    if (version < MIGRATIONS.length) db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`)
  })
}
