// The PostgreSQL schema, as numbered steps applied in order on open. Only ever append a step.
import type { Pool, PoolClient } from "pg"
import { AUDIT_SCHEMA } from "./audit.ts"
import { transaction } from "./transaction.ts"

/** Steps, each a script run in one transaction; `{schema}` is the quoted schema name. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE {schema}.revocations (
     kind text NOT NULL CHECK (kind IN ('token', 'session', 'subject', 'key')),
     id text COLLATE "C" NOT NULL,
     subject text COLLATE "C",
     reason text,
     actor text,
     created_at bigint NOT NULL,
     expires_at bigint NOT NULL,
     cutoff bigint NOT NULL,
     seq bigint GENERATED ALWAYS AS IDENTITY,
     PRIMARY KEY (kind, id)
   );
   CREATE INDEX revocations_expires_at ON {schema}.revocations (expires_at);
   CREATE INDEX revocations_seq ON {schema}.revocations (seq);
   CREATE INDEX revocations_subject ON {schema}.revocations (subject, seq);
   CREATE TABLE {schema}.subjects (subject text COLLATE "C" PRIMARY KEY, gen bigint NOT NULL);
   CREATE TABLE {schema}.sessions (
     sid text COLLATE "C" PRIMARY KEY,
     subject text COLLATE "C" NOT NULL,
     gen bigint NOT NULL,
     created_at bigint NOT NULL,
     last_used_at bigint NOT NULL,
     expires_at bigint NOT NULL,
     device text,
     claims text NOT NULL,
     revoked_at bigint,
     current_hash text COLLATE "C" NOT NULL,
     previous_hash text COLLATE "C",
     rotated_at bigint NOT NULL,
     seq bigint GENERATED ALWAYS AS IDENTITY
   );
   CREATE INDEX sessions_subject ON {schema}.sessions (subject, created_at);
   CREATE INDEX sessions_expires_at ON {schema}.sessions (expires_at);
   CREATE TABLE {schema}.keys (
     kid text COLLATE "C" PRIMARY KEY,
     alg text NOT NULL,
     private_jwk text NOT NULL,
     created_at bigint NOT NULL,
     retired_at bigint
   );
   CREATE TABLE {schema}.documents (
     collection text COLLATE "C" NOT NULL,
     id text COLLATE "C" NOT NULL,
     json text NOT NULL,
     PRIMARY KEY (collection, id)
   );
   CREATE TABLE {schema}.windows (key text COLLATE "C" PRIMARY KEY, count integer NOT NULL, reset_at bigint NOT NULL);
   CREATE INDEX windows_reset_at ON {schema}.windows (reset_at);`,
  // When replicas let go of a revocation (see RevocationInput.replicaUntil); rows from before it: their expiry.
  `ALTER TABLE {schema}.revocations ADD COLUMN replica_until bigint;
   UPDATE {schema}.revocations SET replica_until = expires_at;
   ALTER TABLE {schema}.revocations ALTER COLUMN replica_until SET NOT NULL;
   CREATE INDEX revocations_replica_until ON {schema}.revocations (replica_until, seq);`,
  // When a key starts signing (StoredKey.activatesAt); null, for keys from before it, reads as created_at.
  `ALTER TABLE {schema}.keys ADD COLUMN activates_at bigint;`,
  // The server's audit log (audit.ts).
  AUDIT_SCHEMA,
]

/** Advisory-lock class of revocable's migrations ("revo"); the schema's hash is the object id. */
const LOCK_CLASS = 0x7265766f

/**
 * Brings the schema up to date. Each step runs in its own transaction under an advisory lock, so processes
 * opening the store at once apply every step exactly once; a step that fails leaves nothing behind.
 */
export async function migrate(pool: Pool, schema: string): Promise<void> {
  const quoted = `"${schema}"`
  for (let version = 1; version <= MIGRATIONS.length; version++) {
    await transaction(pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK_CLASS, schema])
      if (!(await ensureLedger(client, schema)) && (await applied(client, quoted, version))) return
      await client.query((MIGRATIONS[version - 1] as string).replaceAll("{schema}", quoted))
      await client.query(`INSERT INTO ${quoted}.migrations (version) VALUES ($1)`, [version])
    })
  }
}

/** Creates the schema and its ledger of applied steps when missing; true when it had to. */
async function ensureLedger(client: PoolClient, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ ledger: string | null }>("SELECT to_regclass($1) AS ledger", [`"${schema}".migrations`])
  if (rows[0]?.ledger) return false
  // Only when missing: CREATE SCHEMA checks the CREATE privilege even when the schema exists.
  const { rowCount } = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])
  if (!rowCount) await client.query(`CREATE SCHEMA "${schema}"`)
  await client.query(`CREATE TABLE "${schema}".migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
  return true
}

async function applied(client: PoolClient, quoted: string, version: number): Promise<boolean> {
  const { rowCount } = await client.query(`SELECT 1 FROM ${quoted}.migrations WHERE version = $1`, [version])
  return rowCount === 1
}
