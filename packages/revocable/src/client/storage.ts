/// <reference lib="dom" />
// Where a client keeps its tokens between page loads: nowhere (cookie mode: the refresh token is in an HttpOnly
// cookie the script never sees, so only the access token is held, in memory) or localStorage (both tokens,
// readable by every script of the origin, as many tutorials do).
//
// localStorage alone cannot hand a rotated refresh token from one tab to the next: Chromium copies it to the
// other tabs' processes asynchronously, so the tab that takes the refresh lock next may still read the token
// just spent, present it again and have the session revoked for reuse. So every write also goes to IndexedDB,
// which no tab caches, before the lock is released, and the lock holder reads from there.

export interface Tokens {
  accessToken: string
  sessionId: string | null
  /** localStorage mode only. */
  refreshToken?: string
  /** Cookie mode: the CSRF token of the last answer, for when the CSRF cookie cannot be read (another origin). */
  csrfToken?: string
}

export interface TokenStore {
  /** What this tab sees now, at once; another tab's last write may not have reached it yet. */
  peek(): Tokens | null
  /** The last pair any tab wrote: for the holder of the refresh lock. */
  latest(): Promise<Tokens | null>
  write(tokens: Tokens): Promise<void>
  /** Forgets the pair if it is still the one of `sessionId` (another tab may have signed in since). */
  clear(sessionId: string | null): Promise<void>
}

const DATABASE = "revocable"
const TABLE = "tokens"

export function localTokens(key: string): TokenStore {
  let database: Promise<IDBDatabase | null> | undefined

  function open(): Promise<IDBDatabase | null> {
    database ??= new Promise((resolve) => {
      if (typeof indexedDB !== "object" || indexedDB === null) return resolve(null)
      const request = indexedDB.open(DATABASE, 1)
      request.onupgradeneeded = () => request.result.createObjectStore(TABLE)
      request.onsuccess = () => resolve(request.result)
      // Without IndexedDB (some private modes) localStorage is all there is.
      request.onerror = () => resolve(null)
      request.onblocked = () => resolve(null)
    })
    return database
  }

  /** Resolves once the transaction is committed, so that a later transaction of any tab sees it. */
  async function transact<T>(mode: IDBTransactionMode, work: (table: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
    const db = await open()
    if (db === null) return undefined
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(TABLE, mode)
      const request = work(transaction.objectStore(TABLE))
      transaction.oncomplete = () => resolve(request?.result)
      transaction.onerror = transaction.onabort = () => reject(transaction.error)
    })
  }

  const peek = (): Tokens | null => {
    try {
      return parse(JSON.parse(localStorage.getItem(key) ?? "null"))
    } catch {
      return null
    }
  }

  return {
    peek,
    async latest() {
      const stored = await transact("readonly", (table) => table.get(key))
      return stored === undefined ? peek() : parse(stored)
    },
    async write(tokens) {
      const value = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, sessionId: tokens.sessionId }
      await transact("readwrite", (table) => table.put(value, key))
      localStorage.setItem(key, JSON.stringify(value))
    },
    async clear(sessionId) {
      if (peek()?.sessionId === sessionId) localStorage.removeItem(key)
      await transact("readwrite", (table) => {
        const request = table.get(key)
        request.onsuccess = () => {
          if (parse(request.result)?.sessionId === sessionId) table.delete(key)
        }
      })
    },
  }
}

function parse(value: unknown): Tokens | null {
  if (typeof value !== "object" || value === null) return null
  const { accessToken, refreshToken, sessionId } = value as Record<string, unknown>
  if (typeof accessToken !== "string" || typeof refreshToken !== "string") return null
  return { accessToken, refreshToken, sessionId: typeof sessionId === "string" ? sessionId : null }
}
