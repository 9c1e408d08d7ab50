// The change feed: XREAD BLOCK on a dedicated connection, from a stream position that survives reconnects.
import { setTimeout as sleep } from "node:timers/promises"
import type { ChangeEvent, RevocationKind } from "../../core/store.ts"
import type { Connection } from "./connection.ts"
import { script, type Run } from "./scripts.ts"

export interface FeedOptions {
  /** Opens the dedicated connection the blocking reads hold. */
  connect(): Promise<Connection>
  /** The stream's end: the last entry's id ("0-0" when empty) and its sequence number. */
  position(): Promise<[string, number]>
  feedKey: string
  heartbeatMs: number
  commandTimeoutMs: number
  dispatch(event: ChangeEvent): void
}

export interface Feed {
  stop(): Promise<void>
}

const BATCH = 1000

/** The feed's position: {last entry id or "0-0", the sequence number of the last change}. */
export const POSITION = script(`
local last = redis.call('XREVRANGE', base .. ':feed', '+', '-', 'COUNT', 1)
if #last == 0 then return {'0-0', redis.call('GET', base .. ':n') or '0'} end
local fields = last[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'n' then return {last[1][1], fields[i + 1]} end
end
return {last[1][1], '0'}
`)

/** The stream's end, for {@link FeedOptions.position}. */
export async function readPosition(run: Run): Promise<[string, number]> {
  const [id, n] = (await run(POSITION, [])) as [unknown, unknown]
  return [String(id), Number(n)]
}

/** Starts reading from the current end of the stream; resolves once the position is known. */
export async function startFeed(options: FeedOptions): Promise<Feed> {
  const { feedKey, heartbeatMs, dispatch } = options
  const reader = await options.connect()
  let position: string
  let last: number
  try {
    ;[position, last] = await options.position()
  } catch (error) {
    await reader.close()
    throw error
  }
  const read = ["XREAD", "BLOCK", String(heartbeatMs), "COUNT", String(BATCH), "STREAMS", feedKey]
  const stopping = new AbortController()
  const done = (async () => {
    let broken = false
    let failures = 0
    while (!stopping.signal.aborted) {
      let reply: unknown
      let sentAt: number
      try {
        if (broken) {
          const [end] = await options.position()
          if (compareIds(end, position) < 0) position = "0-0"
        }
        sentAt = Date.now()
        // Waits for a reconnect rather than fail at once: the feed resumes as soon as Redis is back.
        reply = await reader.send([...read, position], heartbeatMs + options.commandTimeoutMs, true)
      } catch {
        if (stopping.signal.aborted) break
        broken = true
        await sleep(25 * 2 ** Math.min(failures++, 2), undefined, { signal: stopping.signal }).catch(() => undefined)
        continue
      }
      if (stopping.signal.aborted) break
      failures = 0
      const entries = streamEntries(reply)
      // A reconnect, or a gap in the sequence (trimmed stream, Redis restarted without its data): reload.
      let resetDue = broken
      broken = false
      for (const [id, fields] of entries) {
        const event = toEvent(fields)
        if (resetDue || event.n !== last + 1) dispatch({ type: "reset" })
        resetDue = false
        last = event.n
        position = id
        dispatch(event.change)
      }
      if (resetDue) dispatch({ type: "reset" })
      // A read that returned less than a full batch returned everything committed before it was sent; an
      // empty one, only given once Redis has blocked for heartbeatMs, everything committed until then. Never
      // the time the answer is handled: a process paused in between must not count itself up to date.
      if (entries.length < BATCH) dispatch({ type: "sync", at: reply == null ? sentAt + heartbeatMs : sentAt })
    }
    await reader.close()
  })()
  return {
    async stop() {
      stopping.abort()
      await reader.close()
      await done
    },
  }
}

/** A stream entry as the change it carries, with its sequence number. */
function toEvent(fields: unknown[]): { n: number; change: ChangeEvent } {
  const f = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(String(fields[i]), String(fields[i + 1]))
  const n = Number(f.get("n"))
  const kind = f.get("kind") as RevocationKind
  const id = f.get("id") ?? ""
  switch (f.get("t")) {
    case "revoked":
      return {
        n,
        change: {
          type: "revoked",
          revocation: {
            kind,
            id,
            subject: f.get("subject") ?? null,
            reason: f.get("reason") ?? null,
            actor: f.get("actor") ?? null,
            createdAt: Number(f.get("createdAt")),
            expiresAt: Number(f.get("expiresAt")),
            cutoff: Number(f.get("cutoff")),
            // Absent when published before replicaUntil existed: replicas then keep it to its expiry.
            replicaUntil: Number(f.get("replicaUntil") ?? f.get("expiresAt")),
          },
        },
      }
    case "unrevoked":
      return { n, change: { type: "unrevoked", kind, id } }
    default:
      return { n, change: { type: "keys" } }
  }
}

/** XREAD's reply for one stream, RESP2 (array) or RESP3 (map) alike. */
function streamEntries(reply: unknown): Array<[string, unknown[]]> {
  if (reply == null) return []
  let entries: unknown
  if (Array.isArray(reply)) entries = (reply[0] as unknown[] | undefined)?.[1]
  else if (reply instanceof Map) entries = reply.values().next().value
  else entries = Object.values(reply as object)[0]
  return ((entries ?? []) as Array<[unknown, unknown[]]>).map(([id, fields]) => [String(id), fields])
}

/** Orders stream ids ("ms-seq"). */
function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split("-").map(BigInt)
  const [bm = 0n, bs = 0n] = b.split("-").map(BigInt)
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1
}
