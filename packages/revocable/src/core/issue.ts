// Issuing: issue() opens a session and mints its first pair of tokens, refresh() rotates it and mints the next.
import { AuthError } from "../errors.ts"
import { randomId, refreshHash } from "./ids.ts"
import { checkAppClaims, checkId, checkText } from "./checks.ts"
import { MAX_TOKEN_LENGTH, signToken } from "./tokens.ts"
import { accessWindowEnd } from "./revocation.ts"
import { verify } from "./verify.ts"
import type { IssueOptions, TokenPair } from "./auth.ts"
import type { Context } from "./instance.ts"
import type { Session } from "./store.ts"

export async function issue(ctx: Context, subject: string, options: IssueOptions = {}): Promise<TokenPair> {
  checkId(subject, "subject")
  const claims = checkAppClaims(options.claims ?? {})
  const device = options.device ?? null
  if (device !== null) checkText(device, "device")
  return ctx.lifecycle.run(async () => {
    const { config } = ctx
    const now = ctx.clock()
    const refreshJti = randomId()
    // Fails before the session is created when no key can sign, or when the claims would make an access token
    // longer than verify accepts: one that every verify and refresh would refuse.
    checkTokenLength(ctx, subject, claims)
    const result = await ctx.events.fromStore(() =>
      ctx.store.createSession({
        session: { sid: randomId(), subject, ttlMs: config.sessionTtlMs, device, claims, refreshHash: refreshHash(refreshJti) },
        idleTimeoutMs: config.idleTimeoutMs,
        limit: config.maxSessions?.limit ?? null,
        onExceed: config.maxSessions?.onExceed ?? "reject",
        // The store sets the expiry (the evicted session's end) and keeps replicaUntil at or before it.
        evictTemplate: {
          kind: "session",
          reason: "session limit: evicted oldest",
          actor: "revocable",
          createdAt: now,
          replicaUntil: accessWindowEnd(ctx, now),
        },
        leewayMs: ctx.retentionMs,
      }),
    )
    if (!result.ok) throw new AuthError("session_limit_reached")
    for (const revocation of result.evicted) ctx.replica.add(revocation)
    return mint(ctx, result.session, refreshJti, now)
  })
}

/** Rotates: the presented refresh token is spent, and a new pair is returned. */
export async function refresh(ctx: Context, refreshToken: unknown): Promise<TokenPair> {
  const claims = await verify(ctx, refreshToken, { type: "refresh" })
  const now = ctx.clock()
  const nextJti = randomId()
  const result = await ctx.events.fromStore(() =>
    ctx.store.rotate({
      sid: claims.sid,
      presentedHash: refreshHash(claims.jti),
      nextHash: refreshHash(nextJti),
      graceMs: ctx.config.reuseGraceMs,
      idleTimeoutMs: ctx.config.idleTimeoutMs,
      reuseRevocation: {
        kind: "session",
        id: claims.sid,
        subject: claims.sub,
        reason: "refresh token reused",
        actor: "revocable",
        createdAt: now,
        expiresAt: now + ctx.longestLifeMs,
        replicaUntil: accessWindowEnd(ctx, now),
      },
    }),
  )
  switch (result.status) {
    case "rotated":
    case "grace":
      return mint(ctx, result.session, nextJti, now)
    case "reused":
      ctx.replica.add(result.revocation)
      ctx.events.emit("reuse-detected", { sessionId: claims.sid, subject: claims.sub })
      throw new AuthError("refresh_token_reused")
    case "expired":
      throw new AuthError("token_expired", "The session has expired.")
    case "revoked":
    case "missing":
      throw new AuthError("token_revoked", "The session has ended.")
  }
}

/** Signs an access token as long as the session's will be (its ids and numbers at their longest) and measures it. */
function checkTokenLength(ctx: Context, subject: string, claims: Record<string, unknown>): void {
  const { config } = ctx
  const longest = Number.MAX_SAFE_INTEGER
  const id = randomId()
  const probe = signToken(ctx.keys.signer(), "access", { ...claims, iss: config.issuer, sub: subject, aud: config.audience, iat: longest, exp: longest, jti: id, sid: id, gen: longest })
  if (probe.length > MAX_TOKEN_LENGTH) {
    throw new AuthError("invalid_request", `The subject and claims make an access token longer than ${MAX_TOKEN_LENGTH} characters, which verify refuses: keep large data out of the token.`)
  }
}

function mint(ctx: Context, session: Session, refreshJti: string, now: number): TokenPair {
  const { config } = ctx
  const key = ctx.keys.signer()
  const iat = Math.floor(now / 1000)
  const sessionEnd = Math.floor(session.expiresAt / 1000)
  const accessExp = Math.min(iat + config.accessTtlMs / 1000, sessionEnd)
  const refreshExp = Math.min(iat + config.refreshTtlMs / 1000, sessionEnd)
  const common = { iss: config.issuer, sub: session.subject, aud: config.audience, iat }
  const ids = { sid: session.sid, gen: session.gen }
  return {
    accessToken: signToken(key, "access", { ...session.claims, ...common, exp: accessExp, jti: randomId(), ...ids }),
    refreshToken: signToken(key, "refresh", { ...common, exp: refreshExp, jti: refreshJti, ...ids }),
    tokenType: "Bearer",
    expiresIn: accessExp - iat,
    refreshExpiresIn: refreshExp - iat,
    sessionId: session.sid,
  }
}
