// The stores that instances in separate processes share, each made fresh for one test and removed after it.
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Pool } from "pg"
import { deleteKeys, REDIS_URL } from "../helpers/redis.ts"
import type { StoreArgs } from "../helpers/instance.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"

export interface SharedStore {
  readonly args: StoreArgs
  remove(): Promise<void>
}

export const SHARED_STORES: Record<"sqlite" | "postgres" | "redis", () => SharedStore> = {
  sqlite() {
    const dir = mkdtempSync(join(tmpdir(), "revocable-faults-"))
    return { args: ["sqlite", join(dir, "shared.db")], remove: async () => rmSync(dir, { recursive: true, force: true }) }
  },
  postgres() {
    const schema = `faults_${process.pid}_${randomBytes(4).toString("hex")}`
    return {
      args: ["postgres", POSTGRES_URL, schema],
      async remove() {
        const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 })
        try {
          await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        } finally {
          await admin.end()
        }
      },
    }
  },
  redis() {
    const prefix = `faults:${process.pid}:${randomBytes(4).toString("hex")}`
    return { args: ["redis", REDIS_URL, prefix], remove: () => deleteKeys(REDIS_URL, [prefix]) }
  },
}
