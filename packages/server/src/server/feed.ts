/**
 * The revocation feed that services holding no store credentials follow (issue 15): the live revocations of this
 * instance, as a snapshot and as the changes since a cursor. Kept from the auth instance's own events (which carry
 * every instance's revocations, from the store's change feed) on top of one snapshot of the store.
 *
 * A cursor is `EPOCH.SEQ`: EPOCH names this process's current log (a new one after each reload), SEQ counts the
 * changes in it. A cursor of another instance, of an earlier log, or older than the changes still held cannot be
 * followed: its reader gets a snapshot instead. The poll endpoint and the Server-Sent Events stream share it: an
 * event's id is the cursor after it, so `Last-Event-ID` is a `since`. The stream's subscribers are told of each
 * batch of changes as it is recorded (what the store's feed delivers at once), with the cursors before
 * and after it: a subscriber at the first takes the batch as it is, any other reads its way from its own cursor.
 *
 * @example
 * const feed = revocationFeed(auth, store)
 * const first = await feed.read(null)              // { type: "snapshot", cursor, revocations }
 * const next = await feed.read(first.cursor)       // { type: "changes", cursor, changes } (or a snapshot)
 * const off = feed.subscribe(({ from, cursor, changes }) => { ... })
 */
import { randomBytes } from "node:crypto"
import type { Auth, FeedChange, FeedEntry, Revocation } from "revocable"
import type { ServerStore } from "revocable/stores"
import { readSnapshot, storeOperation } from "revocable/stores"

/** The feed's entries, shared with revocable/remote, which reads what this writes. */
export type { FeedChange, FeedEntry }

export type FeedRead =
  | { type: "snapshot"; cursor: string; revocations: FeedEntry[] }
  | { type: "changes"; cursor: string; changes: FeedChange[] }

/** Changes recorded together: `from` is the cursor before them, `cursor` the one after. */
export interface FeedBatch {
  from: string
  cursor: string
  changes: FeedChange[]
}

export interface RevocationFeed {
  /** The changes since `cursor` when this instance still holds them, else a snapshot. */
  read(cursor: string | null): Promise<FeedRead>
  /** Calls `listener` with each batch of changes recorded from now on (once a read has loaded the feed). */
  subscribe(listener: (batch: FeedBatch) => void): () => void
  close(): void
}

/** Changes held for readers to catch up with; a reader further behind gets a snapshot. */
const LOG_LIMIT = 10_000

export function revocationFeed(auth: Auth, store: ServerStore, options: { now?: () => number } = {}): RevocationFeed {
  const now = options.now ?? Date.now
  let live = new Map<string, FeedEntry>()
  let log: { seq: number; change: FeedChange }[] = []
  let epoch = ""
  let seq = 0
  let resetsLoaded = -1
  /** Events that arrive while a snapshot loads: replayed on top of it. */
  let pending: FeedChange[] | null = null
  let loading: Promise<void> | undefined
  const listeners = new Set<(batch: FeedBatch) => void>()
  /** Changes recorded in this tick, told to the listeners at its end: a burst from the store is one batch. */
  let batch: FeedBatch | null = null

  function record(change: FeedChange): void {
    if (pending !== null) return void pending.push(change)
    // Nobody has read yet: the first read loads a snapshot.
    if (resetsLoaded < 0) return
    const key = `${change.kind}:${change.id}`
    if (change.op === "revoked") live.set(key, entryOf(change))
    else live.delete(key)
    const from = `${epoch}.${seq}`
    log.push({ seq: ++seq, change })
    // Trimmed in halves, so that a burst costs no copy per change.
    if (log.length >= 2 * LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT)
    if (listeners.size === 0) return
    if (batch === null) {
      batch = { from, cursor: from, changes: [] }
      queueMicrotask(flush)
    }
    batch.cursor = `${epoch}.${seq}`
    batch.changes.push(change)
  }

  function flush(): void {
    const told = batch
    batch = null
    if (told !== null) for (const listener of listeners) listener(told)
  }

  const offRevoked = auth.on("revoked", (revocation) => record({ op: "revoked", ...entryOf(revocation) }))
  const offUnrevoked = auth.on("unrevoked", ({ kind, id }) => record({ op: "unrevoked", kind, id }))

  /** A new log on a new snapshot of the store: at the first read, and after the replica's feed reconnected. */
  async function reload(): Promise<void> {
    const resets = auth.replicaStatus().resets
    pending = []
    try {
      // Read beside the live set, which stays as it was if the read fails.
      const loaded = new Map<string, FeedEntry>()
      const add = (revocations: Revocation[]) => {
        for (const revocation of revocations) loaded.set(`${revocation.kind}:${revocation.id}`, entryOf(revocation))
      }
      // Page by page where the store can: no million Revocation objects held at once.
      await storeOperation(() => readSnapshot(store, now(), add))
      live = loaded
      epoch = randomBytes(6).toString("base64url")
      seq = 0
      log = []
      resetsLoaded = resets
    } finally {
      const replay = pending
      pending = null
      for (const change of replay) record(change)
    }
  }

  /** Loaded and as current as the auth instance's replica; one reload at a time. */
  async function upToDate(): Promise<void> {
    while (resetsLoaded !== auth.replicaStatus().resets) {
      loading ??= reload().finally(() => {
        loading = undefined
      })
      await loading
    }
  }

  return {
    async read(cursor) {
      await upToDate()
      const at = now()
      const since = cursor === null ? null : position(cursor, epoch)
      const oldest = log[0]?.seq ?? seq + 1
      if (since === null || since > seq || since < oldest - 1) {
        const revocations: FeedEntry[] = []
        for (const [key, entry] of live) {
          if (entry.exp * 1000 > at) revocations.push(entry)
          else live.delete(key)
        }
        return { type: "snapshot", cursor: `${epoch}.${seq}`, revocations }
      }
      // The log holds consecutive seqs: the changes since are its tail.
      return { type: "changes", cursor: `${epoch}.${seq}`, changes: log.slice(since - oldest + 1).map((item) => item.change) }
    },

    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },

    close() {
      listeners.clear()
      offRevoked()
      offUnrevoked()
    },
  }
}

/** The SEQ of a cursor of this epoch, or null. */
function position(cursor: string, epoch: string): number | null {
  const dot = cursor.indexOf(".")
  if (dot < 0 || cursor.slice(0, dot) !== epoch) return null
  const text = cursor.slice(dot + 1)
  return /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : null
}

function entryOf(revocation: Revocation | FeedEntry): FeedEntry {
  if ("exp" in revocation) return { kind: revocation.kind, id: revocation.id, exp: revocation.exp, ...(revocation.cutoff === undefined ? {} : { cutoff: revocation.cutoff }) }
  const until = revocation.replicaUntil ?? revocation.expiresAt
  return { kind: revocation.kind, id: revocation.id, exp: Math.ceil(until / 1000), ...(revocation.kind === "subject" ? { cutoff: revocation.cutoff } : {}) }
}
