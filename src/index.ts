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
export type { Claims } from "./core/claims.ts"
export type { Algorithm, KeyInput, TokenType } from "./core/keys.ts"
export type { Duration } from "./core/duration.ts"
export { AuthError, RateLimitedError, isAuthError } from "./errors.ts"
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
} from "./stores/contract.ts"
