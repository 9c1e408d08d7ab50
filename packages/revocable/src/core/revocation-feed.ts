// The revocation feed's entries, as the auth server publishes them over HTTP and revocable/remote reads them.
import type { RevocationKind } from "./store.ts"

/** A live revocation as a verifier needs it: what it matches and until when (seconds since the epoch). */
export interface FeedEntry {
  kind: RevocationKind
  id: string
  exp: number
  /** For `subject`: tokens whose `gen` is below it are revoked. */
  cutoff?: number
}

export type FeedChange = ({ op: "revoked" } & FeedEntry) | { op: "unrevoked"; kind: RevocationKind; id: string }
