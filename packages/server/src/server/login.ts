// What /auth/login and the token endpoint's password grant share: the checked login, and the token pair's answer.
import type { FastifyReply, FastifyRequest } from "fastify"
import { AuthError, isAuthError, type TokenPair } from "revocable"
import type * as schemas from "./schemas.ts"
import type { Services } from "./services.ts"
import type { User } from "./users.ts"

const MAX_DEVICE = 200

/** The `client_id` claim (RFC 9068 §2.2) of tokens from /auth/login, and from a grant that named no client. */
const FIRST_PARTY_CLIENT = "revocable"

/**
 * Checks the password (rate-limited first) and issues a pair. Access tokens carry the user's `roles` and the
 * `client_id` that asked for them.
 */
export async function passwordLogin(
  services: Pick<Services, "auth" | "users" | "metrics" | "limits">,
  username: string,
  password: string,
  request: FastifyRequest,
  options: { device?: string | undefined; clientId?: string } = {},
): Promise<{ user: User; pair: TokenPair }> {
  const { metrics, users, auth } = services
  let user: User
  try {
    await services.limits.login.attempt(request.ip, username)
    user = await users.authenticate(username, password)
  } catch (error) {
    if (isAuthError(error) && error.code !== "store_unavailable") {
      metrics.loginFailed(error.code === "forbidden" ? "suspended" : error.code)
    }
    throw error
  }
  const claims = { roles: user.roles, client_id: options.clientId ?? FIRST_PARTY_CLIENT }
  const pair = await auth.issue(user.sub, { claims, device: deviceOf(request, options.device) })
  if (!(await users.isCurrent(user))) {
    // A suspension or password change landed between the password check and the issue.
    await auth.revokeSession(pair.sessionId, { reason: "login raced an account change", actor: "revocable" })
    metrics.loginFailed("invalid_credentials")
    throw new AuthError("invalid_credentials")
  }
  return { user, pair }
}

function deviceOf(request: FastifyRequest, given: string | undefined): string {
  const label = given !== undefined && given.trim() !== "" ? given : request.headers["user-agent"] ?? "unknown"
  return label.replace(/[\x00-\x1F\x7F]/g, "").slice(0, MAX_DEVICE)
}

export function pairBody(pair: TokenPair): schemas.TokenPair {
  return {
    access_token: pair.accessToken,
    refresh_token: pair.refreshToken,
    token_type: pair.tokenType,
    expires_in: pair.expiresIn,
    refresh_expires_in: pair.refreshExpiresIn,
    session_id: pair.sessionId,
  }
}

/** Token answers are never cached (RFC 6749 §5.1). */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header("cache-control", "no-store").header("pragma", "no-cache")
}
