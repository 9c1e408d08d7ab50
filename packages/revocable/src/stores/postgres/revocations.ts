// Revocations: written by group commit and answered once on disk; checked, read in pages, listed, unrevoked.
import { DatabaseError, type Pool, type PoolClient } from "pg"
import { GroupCommit, batchResults, planBatch } from "./batch.ts"
import { one, toRevocation, type RevocationRow } from "./codec.ts"
import { PAGE, type Context } from "./connection.ts"
import { afresh, connectionLost } from "./retry.ts"
import { transaction } from "./transaction.ts"
import { decodeCursor, encodeCursor, readAhead, replicaUntilOf, revocationKey } from "../shared.ts"
import type { ChangeEvent, ListRevocationsQuery, Page, Revocation, RevocationInput, RevocationKind, RevocationQuery, Store } from "../../core/store.ts"

/** At most this many revocations per group-commit transaction. */
const MAX_BATCH = 500
/**
 * SQLSTATE classes of a batch failure that one input or an unlucky interleaving can cause (bad data, a limit
 * such as an index row too large, a deadlock): the batch is then written again one revocation at a time, so
 * that only the culprit fails.
 */
const RETRY_ALONE = new Set(["22", "23", "40", "54"])
/** The snapshot's values as the server sent them (text): toRevocation reads the numbers, pg need not check them first. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value }
/** insufficient_privilege, undefined_function, feature_not_supported: the server will not emit the message. */
const FLUSH_REFUSED = new Set(["42501", "42883", "0A000"])

export interface Revocations extends Pick<Store, "revoke" | "unrevoke" | "isRevoked" | "snapshot" | "listRevocations">, Required<Pick<Store, "readSnapshot">> {
  /** Resolves once every revocation pushed so far is answered, its flush included: close waits for it. */
  settled(): Promise<void>
}

export function revocations(context: Context): Revocations {
  const { pool, poolConfig, sql, safely } = context

  /**
   * The snapshot through a cursor in one read-only transaction: as consistent as one statement, each FETCH short.
   * The next page is asked for before this one is handed over, so that the server reads it meanwhile.
   */
  function snapshotPages(db: Pool, now: number, page: (revocations: Revocation[]) => void): Promise<void> {
    const pages = async (client: PoolClient) => {
      await client.query(sql.declareSnapshot, [now])
      const fetch = { text: sql.fetchSnapshot, types: RAW_TEXT }
      // A hand-over that throws ends the transaction with its error.
      await readAhead(
        client.query<RevocationRow>(fetch),
        ({ rows }) => (rows.length === PAGE ? client.query<RevocationRow>(fetch) : null),
        ({ rows }) => page(rows.map(toRevocation)),
      )
    }
    return transaction(db, pages, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
  }

  async function record(db: Pool | PoolClient, input: RevocationInput): Promise<Revocation> {
    const statement = input.kind === "subject" ? sql.recordSubject : input.kind === "session" ? sql.recordSession : sql.record
    const values = [input.kind, input.id, input.subject, input.reason, input.actor, input.createdAt, input.expiresAt, replicaUntilOf(input)]
    const { rows } = await db.query<RevocationRow>(statement, values)
    return toRevocation(one(rows))
  }

  /**
   * One group-commit batch: revocations in (kind, id) order, and their NOTIFYs in that order, in one transaction.
   * Other instances hear of it as soon as it commits, which does not wait for the disk (see `unflushed` in
   * statements()); its callers are answered once it is on disk, while the next batch is already being written.
   *
   * Revocations are idempotent, so a batch whose connection was lost, before its commit was confirmed or while
   * waiting for the flush (a crash may have taken the unflushed commit with it), is written whole once more, on
   * a new connection. Subjects then move their generation twice, which cuts off what one revocation would.
   */
  async function recordBatch(inputs: RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    const again = () =>
      afresh(poolConfig, async (db) => {
        const results = await commitBatch(db, inputs)
        await flushWal(db)
        return results
      })
    let committed: Array<Revocation | Promise<Revocation>>
    try {
      committed = await commitBatch(pool, inputs)
    } catch (error) {
      if (!connectionLost(error)) throw error
      return again()
    }
    const durable = flushWal(pool).then(
      () => committed,
      (error: unknown) => {
        if (!connectionLost(error)) throw error
        return again()
      },
    )
    flushes.add(durable)
    void durable.finally(() => flushes.delete(durable)).catch(() => undefined)
    return inputs.map((_, index) => durable.then((results) => results[index] as Revocation | Promise<Revocation>))
  }

  async function commitBatch(db: Pool, inputs: RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    if (inputs.length === 1) return [await record(db, inputs[0] as RevocationInput)]
    const plan = planBatch(inputs)
    try {
      // Without subjects or sessions the batch is one statement, its own transaction. Otherwise it takes its
      // locks in the store's one order (see statements()): subjects, sessions, revocations, each sorted.
      const rows =
        plan.subjects.size === 0 && plan.sessions.size === 0
          ? await insertRevocations(db, sql.recordMany, plan.rows, new Map())
          : await transaction(db, async (client) => {
              const cutoffs = new Map<string, number>()
              if (plan.subjects.size > 0) {
                const counts = [[...plan.subjects.keys()], [...plan.subjects.values()]]
                const { rows: gens } = await client.query<{ subject: string; gen: string }>(sql.bumpSubjects, counts)
                for (const row of gens) cutoffs.set(row.subject, Number(row.gen))
              }
              if (plan.sessions.size > 0) await client.query(sql.markSessions, [[...plan.sessions.keys()], [...plan.sessions.values()]])
              return insertRevocations(client, sql.recordMany, plan.rows, cutoffs)
            })
      return batchResults(inputs, new Map(rows.map((row) => [revocationKey(row.kind, row.id), row])), plan)
    } catch (error) {
      if (!(error instanceof DatabaseError) || !RETRY_ALONE.has(error.code?.slice(0, 2) ?? "")) throw error
      const alone = inputs.map((input) => record(db, input))
      await Promise.allSettled(alone)
      return alone
    }
  }

  /**
   * Resolves once everything committed before the call is on disk (and on synchronous replicas, if any): a
   * transaction that waits for its own flush (`synchronous_commit`, on by default) covers every commit before
   * it, as the WAL is flushed in order. A transaction waits only if it wrote WAL besides its commit record (an
   * xid alone does not): a transactional logical message is the smallest such write, and needs no table
   * (logical decoding, if any, sees an empty message with the prefix "revocable").
   */
  async function flushWal(db: Pool): Promise<void> {
    const statement = flushStatement
    try {
      await db.query(statement)
    } catch (error) {
      if (statement !== sql.flushByMessage || !(error instanceof DatabaseError) || !FLUSH_REFUSED.has(error.code ?? "")) throw error
      // A server that does not let us emit the message (a managed one may revoke it, a compatible one may lack
      // it): an update of a row of the store's own takes its place. Updates of one row wait on each other.
      if (flushStatement === sql.flushByMessage) {
        flushStatement = sql.flushByRow
        process.emitWarning(`PostgreSQL refused pg_logical_emit_message (${error.message}): revocations flush by updating a row instead.`, {
          code: "REVOCABLE_POSTGRES_FLUSH",
        })
      }
      await db.query(sql.flushByRow)
    }
  }

  let flushStatement = sql.flushByMessage
  const revocationBatches = new GroupCommit(recordBatch, MAX_BATCH)
  /** Flushes in flight, each answering a committed batch's callers: close waits for them. */
  const flushes = new Set<Promise<unknown>>()

  return {
    revoke(input) {
      return revocationBatches.push(input)
    },

    // Not retried, nor is deleteDocument: run twice, either would answer false for what its first run removed.
    async unrevoke(kind, id) {
      if (kind !== "session") return (await pool.query(sql.unrevoke, [kind, id])).rowCount === 1
      // The session's row first, as revoking takes it. Once it is ours, the next statement's snapshot holds any
      // revocation committed while we waited: in one statement the delete could miss it and leave them apart.
      return transaction(pool, async (client) => {
        await client.query(sql.lockSession, [id])
        return (await client.query(sql.unrevokeSession, [id])).rowCount === 1
      })
    },

    async isRevoked(query: RevocationQuery) {
      const values = [query.jti, query.sid, query.subject, query.gen, query.kid, query.now]
      const { rows } = await safely((db) => db.query<{ revoked: boolean }>(sql.isRevoked, values))
      return one(rows).revoked
    },

    snapshot(now) {
      // Run whole once more on a new connection if the first was lost: each run starts its own list.
      return safely(async (db) => {
        const all: Revocation[] = []
        await snapshotPages(db, now, (page) => {
          for (const revocation of page) all.push(revocation)
        })
        return all
      })
    },

    // Run whole once more on a new connection if the first was lost: the pages come again from the first.
    readSnapshot: (now, page) => safely((db) => snapshotPages(db, now, page)),

    async listRevocations(query: ListRevocationsQuery): Promise<Page<Revocation>> {
      const values = [query.now, query.kind ?? null, query.subject ?? null, decodeCursor(query.cursor), query.limit + 1]
      const { rows } = await safely((db) => db.query<RevocationRow & { seq: string }>(sql.listRevocations, values))
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { items: page.map(toRevocation), next: rows.length > query.limit && last ? encodeCursor(Number(last.seq)) : null }
    },

    async settled() {
      await revocationBatches.idle()
      await Promise.allSettled(flushes)
    },
  }
}

/** Writes revocations in one statement (`recordMany`, or `recordEvictions`), subjects with their new cut-offs. */
export async function insertRevocations(
  db: Pool | PoolClient,
  statement: string,
  rows: RevocationInput[],
  cutoffs: Map<string, number>,
): Promise<Revocation[]> {
  const { rows: inserted } = await db.query<RevocationRow>(statement, [
    rows.map((row) => row.kind),
    rows.map((row) => row.id),
    rows.map((row) => row.subject),
    rows.map((row) => row.reason),
    rows.map((row) => row.actor),
    rows.map((row) => row.createdAt),
    rows.map((row) => row.expiresAt),
    rows.map((row) => (row.kind === "subject" ? (cutoffs.get(row.id) ?? 0) : 0)),
    rows.map(replicaUntilOf),
  ])
  return inserted.map(toRevocation)
}

/** A revocation the feed announced by kind and id alone (too large for NOTIFY). */
export async function readRevocation({ pool, sql }: Context, kind: RevocationKind, id: string): Promise<ChangeEvent | null> {
  const { rows } = await pool.query<RevocationRow>(sql.readRevocation, [kind, id])
  // Gone already: unrevoked (that change follows in the feed) or purged.
  return rows[0] ? { type: "revoked", revocation: toRevocation(rows[0]) } : null
}
