// The server's extension (ServerStore): its documents, and the counters of its rate-limit windows.
import type { Pool } from "pg"
import { one } from "./codec.ts"
import type { Context } from "./connection.ts"
import { decodeIdCursor, encodeCursor } from "../shared.ts"
import type { Page } from "../../core/store.ts"
import type { Document, ServerStore } from "../server-store.ts"

export type Documents = Pick<ServerStore, "getDocument" | "putDocument" | "deleteDocument" | "listDocuments" | "hit">

export function documents({ pool, sql, safely }: Context): Documents {
  return {
    async getDocument(collection, id) {
      const { rows } = await safely((db) => db.query<{ json: string }>(sql.getDocument, [collection, id]))
      return rows[0]?.json ?? null
    },
    async putDocument(collection, id, json, expected) {
      const statement = expected === undefined ? sql.putDocument : expected === null ? sql.createDocument : sql.replaceDocument
      const values = expected === undefined || expected === null ? [collection, id, json] : [collection, id, json, expected]
      const write = (db: Pool) => db.query(statement, values)
      const { rowCount } = await (expected === undefined ? safely(write) : write(pool))
      return rowCount === 1
    },
    async deleteDocument(collection, id) {
      const { rowCount } = await pool.query(sql.deleteDocument, [collection, id])
      return rowCount === 1
    },
    async listDocuments(collection, query): Promise<Page<Document>> {
      const after = decodeIdCursor(query.cursor)
      const { rows } = await safely((db) => db.query<Document>(sql.listDocuments, [collection, after, query.limit + 1]))
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { items: page, next: rows.length > query.limit && last ? encodeCursor(last.id) : null }
    },
    async hit(key, windowMs, now) {
      const { rows } = await pool.query<{ count: number; reset_at: string }>(sql.hit, [key, now, windowMs])
      const row = one(rows)
      return { count: row.count, resetAt: Number(row.reset_at) }
    },
  }
}
