/**
 * For store authors: the contract a store fulfils (owned by the core), the server's extension of it, and the
 * helpers every built-in store uses to agree with the others. Prove a store with `revocable/testing`.
 *
 * @example
 * import type { ServerStore } from "revocable/stores"
 * import { storeConformance } from "revocable/testing"
 */
export {
  REVOCATION_KINDS,
  checkStorable,
  isStorable,
  readSnapshot,
  storeOperation,
  type ChangeEvent,
  type ChangeListener,
  type Clock,
  type CreateSessionInput,
  type CreateSessionResult,
  type ListRevocationsQuery,
  type Page,
  type Revocation,
  type RevocationInput,
  type RevocationKind,
  type RevocationQuery,
  type RotateInput,
  type RotateResult,
  type Session,
  type SessionInput,
  type Store,
  type StoredKey,
  type Subscription,
} from "../core/store.ts"
export type { AuditEvent, AuditInput, AuditQuery, Document, ServerStore } from "./server-store.ts"
export { hashEquals } from "./shared.ts"
