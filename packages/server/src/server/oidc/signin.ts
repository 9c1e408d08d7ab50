// The end of a federated sign-in, which is the end of a password login: a revocable session whose access token
// carries the user's roles, the first-party client id and `idp`, the provider's name; checked again after the
// issue against a concurrent suspension, and remembered for back-channel logout.
import type { FastifyRequest } from "fastify"
import { AuthError, type Auth, type TokenPair } from "revocable"
import type { ServerStore } from "revocable/stores"
import type { Audit } from "../audit.ts"
import { sessionDetails } from "../session-details.ts"
import { FIRST_PARTY_CLIENT } from "../requester.ts"
import type { User, UserDirectory } from "../user-directory.ts"
import type { Identities, IdentityKey } from "./identities.ts"
import { SYSTEM_ACTOR } from "../actors.ts"

const MAX_DEVICE = 200

export async function issueFederated(
  deps: { auth: Auth; users: UserDirectory; identities: Identities; audit: Audit; store: ServerStore },
  user: User,
  identity: IdentityKey & { provider: string },
  providerSid: string | null,
  request: FastifyRequest,
): Promise<TokenPair> {
  const { auth, users, identities } = deps
  const signIn = { subject: user.sub, details: { method: "oidc", provider: identity.provider } }
  if (user.suspendedAt !== null) {
    await deps.audit.record({ type: "login.failed", ...signIn, reason: "forbidden" })
    throw new AuthError("forbidden", "This account is suspended.")
  }
  const claims = { roles: user.roles, client_id: FIRST_PARTY_CLIENT, idp: identity.provider }
  const device = (request.headers["user-agent"] ?? "unknown").replace(/[\x00-\x1F\x7F]/g, "").slice(0, MAX_DEVICE)
  const pair = await auth.issue(user.sub, { claims, device })
  if (!(await users.isCurrent(user))) {
    await auth.revokeSession(pair.sessionId, { reason: "sign-in raced an account change", actor: SYSTEM_ACTOR })
    throw new AuthError("forbidden", "This account changed during the sign-in; sign in again.")
  }
  await identities.recordSession(identity, providerSid, pair.sessionId)
  await sessionDetails(deps.store).record(user.sub, pair, request)
  await deps.audit.record({ type: "login.succeeded", ...signIn, actor: user.username, sessionId: pair.sessionId })
  return pair
}
