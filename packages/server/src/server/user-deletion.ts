// Deleting an account (a GDPR erasure request, say): every token of the user is revoked, and what the server keeps
// about them goes: the user record and its index entries, linked identities, where their sessions signed in from.
// The audit log keeps their events by subject but forgets the person (see ServerStore.redactAudit): no username,
// no address, no IP or User-Agent; it records the deletion by subject only.
import { storeOperation, type ServerStore } from "revocable/stores"
import type { Audit } from "./audit.ts"
import { identityList } from "./oidc/identities.ts"
import { sessionDetails } from "./session-details.ts"
import type { UserDirectory } from "./user-directory.ts"

/** False for an unknown subject. Throws `invalid_request` for the last admin. `actor` is who deletes. */
export async function deleteUser(deps: { users: UserDirectory; store: ServerStore; audit: Pick<Audit, "record"> }, sub: string, actor: string): Promise<boolean> {
  const { users, store } = deps
  // The name they acted under, for the audit log: gone from the directory once removed.
  const user = await users.get(sub)
  if (user === null || !(await users.remove(sub, { reason: "user deleted", actor }))) return false
  await identityList(store, users).forget(sub)
  await sessionDetails(store).forget(sub)
  // After the removal, so that the events it recorded (the revocation of their tokens) are redacted too.
  await storeOperation(() => store.redactAudit({ subject: sub, actor: user.username }))
  await deps.audit.record({ type: "user.deleted", subject: sub, actor })
  return true
}
