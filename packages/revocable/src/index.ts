/**
 * revocable: JWTs that can be taken back.
 *
 * @example
 * import { createAuth, AuthError } from "revocable"
 * import { sqliteStore } from "revocable/stores/sqlite"
 * const auth = createAuth({ issuer: "https://auth.example", audience: "api", store: sqliteStore({ path: "auth.db" }) })
 */
export { createAuth } from "./core/auth.ts"
export type { Auth, AuthEvents, IssueOptions, RevokeMeta, TokenPair, VerifyOptions } from "./core/auth.ts"
export type { AuthOptions } from "./core/options.ts"
export type { RotatedKey, RotateOptions } from "./core/keychain.ts"
export type { Claims } from "./core/claims.ts"
export type { Verifier } from "./core/verifier.ts"
export type { FeedChange, FeedEntry } from "./core/revocation-feed.ts"
export { ALGORITHMS, type Algorithm, type KeyInput, type TokenType } from "./core/keys.ts"
export { randomId } from "./core/ids.ts"
export { parseDuration, type Duration } from "./core/duration.ts"
export { AuthError, isAuthError } from "./errors.ts"
export type { AuthErrorCode } from "./errors.ts"
export type {
  ChangeEvent,
  ChangeListener,
  CreateSessionInput,
  CreateSessionResult,
  ListRevocationsQuery,
  Page,
  Revocation,
  RevocationInput,
  RevocationKind,
  RevocationQuery,
  RotateInput,
  RotateResult,
  Session,
  SessionInput,
  Store,
  StoredKey,
  Subscription,
} from "./core/store.ts"
export type { Document, ServerStore } from "./stores/server-store.ts"
