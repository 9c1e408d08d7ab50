// The store of the commands other than `serve`: only the server creates a store, so that a command run in the
// wrong folder (or on the wrong namespace) says which store it looked for instead of answering from a new, empty one.
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import type { ServerStore } from "revocable/stores"
import { type ServerConfig } from "../server/config.ts"
import { openStore } from "../server/engine.ts"

/** The configured store does not exist; the message says which one was looked for and how to point at another. */
export class NoStore extends Error {
  override name = "NoStore"
}

const CREATES = "only 'revocable serve' creates a store"

/** Opens the configured store if it exists; throws NoStore when it does not, other errors as openStore does. */
export async function openExistingStore(config: ServerConfig, cwd = process.cwd()): Promise<ServerStore> {
  const spec = config.store
  if (spec === null || spec.startsWith("sqlite:")) {
    const file = resolve(cwd, spec === null ? join(config.dataDir, "revocable.db") : spec.slice("sqlite:".length))
    if (!existsSync(file)) {
      const from = spec === null ? `REVOCABLE_DATA_DIR is ${config.dataDir}; this folder is ${cwd}` : `REVOCABLE_STORE is ${spec}`
      throw new NoStore(
        `no store at ${file} (${from}): run this where the server runs, or point it at the server's store with REVOCABLE_DATA_DIR=DIR, REVOCABLE_STORE=sqlite:FILE or --config FILE; ${CREATES}`,
      )
    }
    return openStore(config)
  }
  const where = `${spec.startsWith("postgres") ? "schema" : "key prefix"} "${config.storeNamespace}" of ${redactUrl(spec)}`
  const missing = new NoStore(`no store in the ${where}: point it at the server's store with REVOCABLE_STORE and REVOCABLE_STORE_NAMESPACE, or --config FILE; ${CREATES}`)
  // Opening a PostgreSQL store creates its schema: look before. A Redis store writes nothing until used.
  if (spec.startsWith("postgres") && !(await hasPostgresSchema(spec, config.storeNamespace))) throw missing
  const store = await openStore(config)
  // The server generates its signing key on first start: a store without keys never served.
  if ((await store.listKeys()).length === 0) {
    await store.close()
    throw missing
  }
  return store
}

/** Whether the store's schema holds its migration ledger, which the store's first open creates. */
async function hasPostgresSchema(connectionString: string, schema: string): Promise<boolean> {
  const { default: pg } = await import("pg")
  const client = new pg.Client({ connectionString })
  // A connection that fails later (the server restarting) must not crash the process with an unhandled 'error'.
  client.on("error", () => undefined)
  await client.connect()
  try {
    const { rows } = await client.query<{ ledger: string | null }>("SELECT to_regclass($1) AS ledger", [`"${schema}".migrations`])
    return rows[0]?.ledger != null
  } finally {
    await client.end().catch(() => undefined)
  }
}

function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1***@")
}
