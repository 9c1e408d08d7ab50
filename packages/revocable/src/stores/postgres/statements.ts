// The PostgreSQL store's SQL, and the lock order every statement keeps.
import { PAGE } from "./connection.ts"

const REVOCATION_COLUMNS = "kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until"
const SESSION_COLUMNS = "sid, subject, gen, created_at, last_used_at, expires_at, device, claims, revoked_at"
/** NOTIFY payloads must stay under 8000 bytes; a larger revocation is announced by kind and id, then read. */
const MAX_PAYLOAD = 7900

/**
 * The store's now, in ms since the epoch: the `clock` option's reading when given as `param`, else the server's
 * clock at the moment the expression is evaluated. clock_timestamp(), not now(): now() is when the transaction
 * began, before any wait for a lock. In a WHERE clause it is evaluated again when the row is re-checked after
 * waiting for its lock, so that a rotation compares with a time after the one it waited for.
 */
function storeNow(param: string): string {
  return `coalesce(${param}::bigint, floor(extract(epoch from clock_timestamp()) * 1000)::bigint)`
}

/**
 * The store's SQL.
 *
 * Lock order. Whatever locks rows of more than one table, or more than one row of a table, locks subjects
 * first, then sessions, then revocations, and the rows of one table in key order. No two writers can then each
 * hold a row the other waits for, so none is ever aborted as a deadlock (40P01):
 * - rotate, grace: one session. reuse: the session, then its revocation (the insert reads the update's rows).
 * - record: one revocation. recordSession: the session, then its revocation, as reuse. recordSubject: the
 *   subject, then its revocation. recordMany: revocations, sorted.
 * - A group-commit batch: bumpSubjects, markSessions, recordMany, each sorted, in that order.
 * - createSession: the subject (lockSubject), then the evicted sessions and their revocations as a batch does,
 *   then the new session, which no one else can see, let alone wait for, before it commits.
 * - unrevoke of a session: the session (lockSession, a statement of its own), then the revocation.
 * - Purge never waits (SKIP LOCKED). Keys, documents and windows: one row of a table nothing else locks.
 * Each data-modifying WITH that is not read by the rest of its statement runs last, whatever its place: so
 * where a revocation must wait for a session, its insert reads the session update's rows.
 */
export type Statements = ReturnType<typeof statements>

export function statements(s: string, channel: string) {
  /**
   * A revocation's transaction commits without waiting for its WAL to be flushed (`synchronous_commit` off for
   * that transaction alone, set from within its statement): its rows are visible and its NOTIFYs delivered at
   * once, and the NOTIFY queue, shared by the whole database, is not held up behind the flush either. Its callers
   * are answered only after flushWal, so that nothing acknowledged is lost; a server crash in between loses a
   * revocation no caller was told of, which the instances that heard of it drop when their feed resets.
   */
  const unflushed = "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"
  /** Selects the revocation a CTE `r` wrote, and announces it in the same statement (sent on commit). */
  const announce = (commit: "flushed" | "unflushed") => `
    SELECT r.*, pg_notify('${channel}', CASE WHEN octet_length(p.body) <= ${MAX_PAYLOAD} THEN p.body
      ELSE json_build_object('t', 'r', 'k', r.kind, 'i', r.id)::text END)
    FROM r CROSS JOIN LATERAL (SELECT json_build_object('t', 'r', 'r', json_build_object('kind', r.kind, 'id', r.id,
      'subject', r.subject, 'reason', r.reason, 'actor', r.actor, 'createdAt', r.created_at, 'expiresAt', r.expires_at,
      'cutoff', r.cutoff, 'replicaUntil', r.replica_until))::text AS body) AS p ${commit === "unflushed" ? unflushed : ""}`
  /** Revoking again: the latest expiry wins, in the store and in replicas (see mergeRevocation). */
  const latest =
    "expires_at = GREATEST(old.expires_at, excluded.expires_at), replica_until = GREATEST(old.replica_until, excluded.replica_until)"
  /** A batch of revocations, one per kind and id, written and announced in (kind, id) order. */
  const recordMany = (commit: "flushed" | "unflushed") => `
      WITH r AS (
        INSERT INTO ${s}.revocations AS old (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
          AS t(kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
        ORDER BY kind, id COLLATE "C"
        ON CONFLICT (kind, id) DO UPDATE SET ${["subject", "reason", "actor", "created_at", "cutoff"].map(latestForSubject).join(", ")},
          ${latest}
        RETURNING ${REVOCATION_COLUMNS}
      ) ${announce(commit)}
      ORDER BY r.kind, r.id`
  /** Idempotent insert of a token, session or key revocation: the first record stands, the latest expiry wins. */
  const insertRevocation = (source: string) => `
    r AS (
      INSERT INTO ${s}.revocations AS old (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
      ${source}
      ON CONFLICT (kind, id) DO UPDATE SET ${latest}
      RETURNING ${REVOCATION_COLUMNS}
    )`
  const values = "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)"
  /** A subject revoked again takes the new call's details and cut-off; other kinds keep their first record. */
  const latestForSubject = (column: string) => `${column} = CASE WHEN old.kind = 'subject' THEN excluded.${column} ELSE old.${column} END`
  /** Rotation's now: its statements take the clock's reading, or null, as $4 (reuse as $3). */
  const now4 = storeNow("$4")
  /** A session neither revoked, nor expired, nor idle for `idle` ms, at `now`. */
  const live = (now: string, idle: string) => `revoked_at IS NULL AND expires_at > ${now} AND last_used_at > ${now} - ${idle}::bigint`
  /** The predecessor, presented within the grace window after its rotation (a rotation after `now` is none). */
  const tolerated = (now: string, hash: string, grace: string) =>
    `${grace}::bigint > 0 AND previous_hash = ${hash}::text AND ${now} - rotated_at >= 0 AND ${now} - rotated_at < ${grace}::bigint`
  /** Session `x` is not cut off by a subject revocation live at `now`. */
  const uncut = (now: string) => `NOT EXISTS (SELECT 1 FROM ${s}.revocations AS cut
        WHERE cut.kind = 'subject' AND cut.id = x.subject AND cut.expires_at > ${now} AND cut.cutoff > x.gen)`
  /** A subject's live sessions ($1 subject, $3 idle timeout) at `now`: also not cut off by a live subject revocation. */
  const subjectLive = (now: string) => `
      x.subject = $1 AND x.revoked_at IS NULL AND x.expires_at > ${now} AND x.last_used_at > ${now} - $3::bigint
      AND ${uncut(now)}`
  /** Announces the revocations a CTE `d` deleted. */
  const announceUnrevoked = `SELECT pg_notify('${channel}', json_build_object('t', 'u', 'k', kind, 'i', id)::text) FROM d`
  const announceKeys = `SELECT pg_notify('${channel}', '{"t":"k"}')`
  const purgeChunk = (table: string, column: string) => `
    DELETE FROM ${s}.${table} WHERE ctid = ANY (ARRAY(
      SELECT ctid FROM ${s}.${table} WHERE ${column} <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`

  return {
    record: `WITH ${insertRevocation(values)} ${announce("unflushed")}`,
    // The insert reads a count of the update's rows, so that the session is locked before the revocation; it is
    // locked even when revoked already, as markSessions does.
    recordSession: `
      WITH marked AS (UPDATE ${s}.sessions SET revoked_at = COALESCE(revoked_at, $6) WHERE sid = $2 RETURNING sid),
      ${insertRevocation("SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, 0, $8::bigint FROM (SELECT count(*) FROM marked) AS done")}
      ${announce("unflushed")}`,
    // The generation moves under the subject row's lock, which createSession takes too.
    recordSubject: `
      WITH g AS (
        INSERT INTO ${s}.subjects AS old (subject, gen) VALUES ($2, 1)
        ON CONFLICT (subject) DO UPDATE SET gen = old.gen + 1
        RETURNING gen
      ), r AS (
        INSERT INTO ${s}.revocations AS old (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
        SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, g.gen, $8::bigint FROM g
        ON CONFLICT (kind, id) DO UPDATE SET subject = excluded.subject, reason = excluded.reason, actor = excluded.actor,
          created_at = excluded.created_at, cutoff = excluded.cutoff, ${latest}
        RETURNING ${REVOCATION_COLUMNS}
      ) ${announce("unflushed")}`,
    recordMany: recordMany("unflushed"),
    /** The sessions a login evicts: part of the login's transaction, which is answered at its commit. */
    recordEvictions: recordMany("flushed"),
    /** Moves each subject's generation by its count, in subject order; the new generation is the cut-off. */
    bumpSubjects: `
      INSERT INTO ${s}.subjects AS old (subject, gen)
      SELECT subject, n FROM unnest($1::text[], $2::bigint[]) AS t(subject, n) ORDER BY subject COLLATE "C"
      ON CONFLICT (subject) DO UPDATE SET gen = old.gen + excluded.gen
      RETURNING subject, gen`,
    /**
     * Marks sessions revoked, locking them in sid order first: each of them, revoked already or not, so that an
     * unrevoke of one (which takes the row too) comes wholly before or wholly after this revocation.
     */
    markSessions: `
      UPDATE ${s}.sessions AS target SET revoked_at = COALESCE(target.revoked_at, locked.at)
      FROM (
        SELECT x.sid, input.at FROM ${s}.sessions AS x JOIN unnest($1::text[], $2::bigint[]) AS input(sid, at) ON x.sid = input.sid
        ORDER BY x.sid FOR UPDATE OF x
      ) AS locked
      WHERE target.sid = locked.sid`,
    readRevocation: `SELECT ${REVOCATION_COLUMNS} FROM ${s}.revocations WHERE kind = $1 AND id = $2`,
    /** Any kind but a session (see unrevokeSession). */
    unrevoke: `
      WITH d AS (DELETE FROM ${s}.revocations WHERE kind = $1 AND id = $2 RETURNING kind, id) ${announceUnrevoked}`,
    lockSession: `SELECT 1 FROM ${s}.sessions WHERE sid = $1 FOR UPDATE`,
    /** After lockSession: an unrevoked session's refresh token works again. */
    unrevokeSession: `
      WITH cleared AS (UPDATE ${s}.sessions SET revoked_at = NULL WHERE sid = $1),
      d AS (DELETE FROM ${s}.revocations WHERE kind = 'session' AND id = $1 RETURNING kind, id) ${announceUnrevoked}`,
    isRevoked: `
      SELECT EXISTS (SELECT 1 FROM ${s}.revocations WHERE expires_at > $6 AND (
        (kind = 'token' AND id = $1) OR (kind = 'session' AND id = $2) OR
        (kind = 'subject' AND id = $3 AND cutoff > $4) OR (kind = 'key' AND id = $5))) AS revoked`,
    /**
     * What replicas hold (see RevocationInput.replicaUntil) at $1, read through a cursor in pages of PAGE: one
     * scan, each FETCH short, and no order (the plan may take the replica_until index, which skips the rows the
     * store keeps past it for its own decisions).
     */
    declareSnapshot: `DECLARE revocable_snapshot NO SCROLL CURSOR FOR SELECT ${REVOCATION_COLUMNS} FROM ${s}.revocations WHERE replica_until > $1`,
    fetchSnapshot: `FETCH ${PAGE} FROM revocable_snapshot`,
    listRevocations: `
      SELECT ${REVOCATION_COLUMNS}, seq FROM ${s}.revocations
      WHERE expires_at > $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR subject = $3)
        AND ($4::bigint IS NULL OR seq < $4)
      ORDER BY seq DESC LIMIT $5`,

    /** The store's now is read here, once the subject's row is locked: the session's times are after any wait. */
    lockSubject: `
      INSERT INTO ${s}.subjects AS old (subject, gen) VALUES ($1, 0)
      ON CONFLICT (subject) DO UPDATE SET gen = old.gen RETURNING gen, ${storeNow("$2")} AS now`,
    /** At lockSubject's now ($2). */
    liveSessions: `
      SELECT sid, expires_at FROM ${s}.sessions AS x WHERE ${subjectLive("$2::bigint")}
      ORDER BY created_at, seq`,
    /** Created, last used and rotated at lockSubject's now ($4), expiring $5 ms later. */
    insertSession: `
      INSERT INTO ${s}.sessions (sid, subject, gen, created_at, last_used_at, expires_at, device, claims, current_hash, rotated_at)
      VALUES ($1, $2, $3, $4, $4, $4::bigint + $5::bigint, $6, $7, $8, $4)
      RETURNING ${SESSION_COLUMNS}`,
    getSession: `SELECT ${SESSION_COLUMNS} FROM ${s}.sessions WHERE sid = $1`,
    listSessions: `
      SELECT ${SESSION_COLUMNS} FROM (SELECT ${storeNow("$2")} AS now) AS t, ${s}.sessions AS x WHERE ${subjectLive("t.now")}
      ORDER BY created_at DESC, seq`,

    /** The compare-and-set: only the current hash of a live session, not cut off, rotates. $5 the idle timeout. */
    rotate: `
      UPDATE ${s}.sessions AS x SET previous_hash = current_hash, current_hash = $3, rotated_at = ${now4}, last_used_at = ${now4}
      WHERE sid = $1 AND current_hash = $2 AND ${live(now4, "$5")} AND ${uncut(now4)}
      RETURNING ${SESSION_COLUMNS}`,
    /** $6 the grace window. */
    grace: `
      UPDATE ${s}.sessions AS x SET current_hash = $3, last_used_at = ${now4}
      WHERE sid = $1 AND ${tolerated(now4, "$2", "$6")} AND ${live(now4, "$5")} AND ${uncut(now4)}
      RETURNING ${SESSION_COLUMNS}`,
    /**
     * Neither current nor a tolerated predecessor: the session is revoked and the reuse recorded, at once. With
     * no grace window ($5) nothing is tolerated, ever. $3 the clock's reading or null, $4 the idle timeout.
     */
    reuse: `
      WITH marked AS (
        UPDATE ${s}.sessions AS x SET revoked_at = $11::bigint
        WHERE sid = $1 AND ${live(storeNow("$3"), "$4")} AND ${uncut(storeNow("$3"))}
          AND current_hash <> $2::text AND NOT COALESCE(${tolerated(storeNow("$3"), "$2", "$5")}, false)
        RETURNING sid
      ),
      ${insertRevocation("SELECT $6::text, $7::text, $8::text, $9::text, $10::text, $11::bigint, $12::bigint, 0, $13::bigint FROM marked")}
      ${announce("flushed")}`,
    /** Writes WAL, so that its commit waits for the flush (see flushWal); flushByRow where the first is refused. */
    flushByMessage: "SELECT pg_logical_emit_message(true, 'revocable', '')",
    flushByRow: `UPDATE ${s}.migrations SET version = version WHERE version = (SELECT max(version) FROM ${s}.migrations)`,
    sessionState: `
      SELECT revoked_at, ${live("t.now", "$3")} AS live, ${uncut("t.now")} AS uncut
      FROM (SELECT ${storeNow("$2")} AS now) AS t, ${s}.sessions AS x WHERE sid = $1`,

    now: `SELECT ${storeNow("$1")} AS now`,
    // A key saved before activation times were kept signs since its creation.
    listKeys: `SELECT kid, alg, private_jwk, created_at, coalesce(activates_at, created_at) AS activates_at, retired_at
      FROM ${s}.keys ORDER BY created_at, kid`,
    saveKey: `
      WITH k AS (
        INSERT INTO ${s}.keys (kid, alg, private_jwk, created_at, retired_at, activates_at) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, private_jwk = excluded.private_jwk,
          created_at = excluded.created_at, retired_at = excluded.retired_at, activates_at = excluded.activates_at
      ) ${announceKeys}`,
    retireKey: `WITH k AS (UPDATE ${s}.keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL) ${announceKeys}`,
    deleteKey: `WITH k AS (DELETE FROM ${s}.keys WHERE kid = $1) ${announceKeys}`,

    // At most $2 rows each. SKIP LOCKED: a purge never waits for a lock, so it can take part in no deadlock; a
    // row someone holds is purged next time.
    purgeSessions: purgeChunk("sessions", "expires_at"),
    purgeRevocations: purgeChunk("revocations", "expires_at"),
    purgeWindows: purgeChunk("windows", "reset_at"),

    getDocument: `SELECT json FROM ${s}.documents WHERE collection = $1 AND id = $2`,
    putDocument: `
      INSERT INTO ${s}.documents (collection, id, json) VALUES ($1, $2, $3)
      ON CONFLICT (collection, id) DO UPDATE SET json = excluded.json`,
    createDocument: `INSERT INTO ${s}.documents (collection, id, json) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    replaceDocument: `UPDATE ${s}.documents SET json = $3 WHERE collection = $1 AND id = $2 AND json = $4`,
    deleteDocument: `DELETE FROM ${s}.documents WHERE collection = $1 AND id = $2`,
    listDocuments: `
      SELECT id, json FROM ${s}.documents WHERE collection = $1 AND ($2::text IS NULL OR id > $2)
      ORDER BY id LIMIT $3`,
    hit: `
      INSERT INTO ${s}.windows AS w (key, count, reset_at) VALUES ($1, 1, $2::bigint + $3::bigint)
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN w.reset_at <= $2 THEN 1 ELSE w.count + 1 END,
        reset_at = CASE WHEN w.reset_at <= $2 THEN excluded.reset_at ELSE w.reset_at END
      RETURNING count, reset_at`,
  }
}
