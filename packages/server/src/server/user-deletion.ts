// Deleting an account (a GDPR erasure request, say): every token of the user is revoked, and what the server keeps
// about them goes: the user record and its index entries, linked identities, where their sessions signed in from.
// The audit log records the deletion by subject only: no username, no address.
import type { ServerStore } from "revocable/stores"
import type { Audit } from "./audit.ts"
import { identityList } from "./oidc/identities.ts"
import { sessionDetails } from "./session-details.ts"
import type { UserDirectory } from "./user-directory.ts"

/** False for an unknown subject. Throws `invalid_request` for the last admin. `actor` is who deletes. */
export async function deleteUser(deps: { users: UserDirectory; store: ServerStore; audit: Pick<Audit, "record"> }, sub: string, actor: string): Promise<boolean> {
  const { users, store } = deps
  if (!(await users.remove(sub, { reason: "user deleted", actor }))) return false
  await identityList(store, users).forget(sub)
  await sessionDetails(store).forget(sub)
  await deps.audit.record({ type: "user.deleted", subject: sub, actor })
  return true
}
