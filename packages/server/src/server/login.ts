// What /auth/login and the token endpoint's password grant share: the checked login, and the token pair's answer.
//
// Sign-in limits count failures only, in buckets chosen by who asks (OWASP's device cookies, see devices.ts): a
// client presenting a device credential of the account is limited by that credential alone; any other client by
// the account and by its IP. A flood of failures on an account locks out untrusted clients, never the devices
// that signed in to it before, and signing in successfully, however often, counts nothing.
import type { FastifyReply, FastifyRequest } from "fastify"
import { Type } from "typebox"
import { AuthError, isAuthError, type TokenPair } from "revocable"
import { devicesOf, loginName } from "./devices.ts"
import { ServerError } from "./errors.ts"
import { digest, type Bucket } from "./ratelimit.ts"
import { sessionDetails } from "./session-details.ts"
import { FIRST_PARTY_CLIENT } from "./requester.ts"
import * as schemas from "./schemas.ts"
import type { Services } from "./services.ts"
import type { User } from "./user-directory.ts"
import { SYSTEM_ACTOR } from "./actors.ts"

const MAX_DEVICE = 200
/** A device cookie lives a year; each sign-in replaces it. */
const DEVICE_COOKIE_SECONDS = 365 * 86_400

/** A token answer of a sign-in: the pair, and the device credential to present at the next sign-in. */
export const SignInAnswer = Type.Object({
  ...schemas.TokenPair.properties,
  device_token: Type.Optional(Type.String({ description: "Present it as device_token at the next sign-in to this account: that client is then never locked out by others' failures." })),
})

export interface SignIn {
  user: User
  pair: TokenPair
  /** The new device credential of this client for this account. */
  deviceToken: string
  /** The same as a Set-Cookie value, for browsers. */
  deviceCookie: string
}

/**
 * Checks the password (its rate limits first) and issues a pair. Access tokens carry the user's `roles` and the
 * `client_id` that asked for them.
 */
export async function passwordLogin(
  services: Pick<Services, "auth" | "users" | "metrics" | "limits" | "store" | "config" | "audit">,
  username: string,
  password: string,
  request: FastifyRequest,
  options: { device?: string | undefined; clientId?: string; deviceToken?: string | undefined } = {},
): Promise<SignIn> {
  const { metrics, users, auth, config } = services
  const limits = services.limits.login
  const devices = await devicesOf(services.store)
  const login = loginName(username)
  const nonce = devices.recognise(options.deviceToken ?? cookieValue(request, devices.cookieName(login)), login)
  const buckets: Bucket[] =
    nonce !== null
      ? [{ key: `device:${nonce}`, limit: config.loginLimit.perAccount }]
      : [{ key: `account:${digest(login)}`, limit: config.loginLimit.perAccount }, { key: `ip:${request.ip}`, limit: config.loginLimit.perIp }]
  let user: User
  try {
    await limits.check(buckets)
    user = await users.authenticate(username, password)
  } catch (error) {
    if (error instanceof ServerError && error.code === "invalid_credentials") await limits.fail(buckets)
    if (error instanceof ServerError) metrics.loginFailed(error.code)
    else if (isAuthError(error) && error.code !== "store_unavailable") metrics.loginFailed(error.code === "forbidden" ? "suspended" : error.code)
    await services.audit.recordSignInFailure(users, username, error)
    throw error
  }
  const claims = { roles: user.roles, client_id: options.clientId ?? FIRST_PARTY_CLIENT }
  const pair = await auth.issue(user.sub, { claims, device: deviceOf(request, options.device) })
  if (!(await users.isCurrent(user))) {
    // A suspension or password change landed between the password check and the issue.
    await auth.revokeSession(pair.sessionId, { reason: "login raced an account change", actor: SYSTEM_ACTOR })
    metrics.loginFailed("invalid_credentials")
    throw new ServerError("invalid_credentials")
  }
  await sessionDetails(services.store).record(user.sub, pair, request)
  await services.audit.record({ type: "login.succeeded", subject: user.sub, actor: user.username, sessionId: pair.sessionId, details: { method: "password", client_id: claims.client_id } })
  const deviceToken = devices.issue(login)
  const cookie = config.cookies
  const deviceCookie = `${devices.cookieName(login)}=${deviceToken}; Path=/auth/login; Max-Age=${DEVICE_COOKIE_SECONDS}; HttpOnly; SameSite=${cookie.sameSite}${cookie.secure ? "; Secure" : ""}`
  return { user, pair, deviceToken, deviceCookie }
}

/** A cookie's value; the first one when a name is sent twice. */
function cookieValue(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie
  if (typeof header !== "string") return undefined
  for (const part of header.split(";")) {
    const equals = part.indexOf("=")
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim()
  }
  return undefined
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
