// What the verifier asks the authorization server for: its metadata (RFC 8414) and, with the client_credentials
// grant, the access token that reads the revocation feed.

type Fetch = typeof fetch

export const FEED_SCOPE = "revocations:read"

export interface Endpoints {
  jwksUri: string
  tokenEndpoint: string
  poll: string
  /** null when the server publishes no stream. */
  stream: string | null
}

/** The server refused or failed a request in a way that a retry with the same input will not fix by itself. */
export class RemoteError extends Error {
  override name = "RemoteError"
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined
  /** The OAuth error code of the answer (`invalid_client`, `insufficient_scope`, `token_revoked`...), when it had one. */
  readonly code: string | undefined

  constructor(message: string, options: { status?: number; code?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.status = options.status
    this.code = options.code
  }
}

/** The error code and description of an OAuth-style error answer, for messages. */
export async function describeAnswer(response: Response): Promise<{ code: string | undefined; text: string }> {
  let body: { error?: unknown; error_description?: unknown } = {}
  try {
    body = (await response.json()) as typeof body
  } catch {
    // Not JSON: the status says enough.
  }
  const code = typeof body.error === "string" ? body.error : undefined
  const description = typeof body.error_description === "string" ? `: ${body.error_description}` : ""
  return { code, text: `${response.status}${code === undefined ? "" : ` ${code}`}${description}` }
}

export async function discover(issuer: string, fetchImpl: Fetch, signal: AbortSignal): Promise<Endpoints> {
  const url = `${issuer}/.well-known/oauth-authorization-server`
  const response = await fetchImpl(url, { headers: { accept: "application/json" }, signal })
  if (!response.ok) throw new RemoteError(`The server metadata at ${url} answered ${(await describeAnswer(response)).text}.`, { status: response.status })
  const metadata = (await response.json()) as Record<string, unknown>
  if (metadata.issuer !== undefined && metadata.issuer !== issuer) {
    throw new RemoteError(`The server metadata at ${url} names the issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(issuer)} (RFC 8414 §3.3).`)
  }
  const text = (name: string) => (typeof metadata[name] === "string" ? (metadata[name] as string) : undefined)
  const jwksUri = text("jwks_uri")
  const tokenEndpoint = text("token_endpoint")
  if (jwksUri === undefined || tokenEndpoint === undefined) throw new RemoteError(`The server metadata at ${url} has no jwks_uri or token_endpoint.`)
  return { jwksUri, tokenEndpoint, poll: text("revocations_endpoint") ?? `${issuer}/revocations`, stream: text("revocations_stream_endpoint") ?? null }
}

/** The feed's bearer token: fetched once, reused until shortly before it expires, fetched again after a 401. */
export class FeedToken {
  readonly #endpoint: string
  readonly #authorization: string
  readonly #fetch: Fetch
  readonly #now: () => number
  #token: string | undefined
  #renewAt = 0
  #pending: Promise<string> | undefined

  constructor(options: { endpoint: string; clientId: string; clientSecret: string; fetch: Fetch; now: () => number }) {
    this.#endpoint = options.endpoint
    // RFC 6749 §2.3.1: each part form-urlencoded before Basic.
    const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+")
    this.#authorization = `Basic ${btoa(`${encode(options.clientId)}:${encode(options.clientSecret)}`)}`
    this.#fetch = options.fetch
    this.#now = options.now
  }

  /** A token valid for a while yet; one request at a time whoever asks. */
  get(signal: AbortSignal): Promise<string> {
    if (this.#token !== undefined && this.#now() < this.#renewAt) return Promise.resolve(this.#token)
    this.#pending ??= this.#request(signal).finally(() => {
      this.#pending = undefined
    })
    return this.#pending
  }

  /** The feed refused this token (expired, revoked): the next get() asks for a new one. */
  discard(token: string): void {
    if (this.#token === token) this.#token = undefined
  }

  async #request(signal: AbortSignal): Promise<string> {
    const sentAt = this.#now()
    const response = await this.#fetch(this.#endpoint, {
      method: "POST",
      headers: { authorization: this.#authorization, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: FEED_SCOPE }).toString(),
      signal,
    })
    if (!response.ok) {
      const { code, text } = await describeAnswer(response)
      const hint = response.status === 401 ? " Check the client id and secret (or whether the client was removed)." : ""
      throw new RemoteError(`The token endpoint refused the verifier's client credentials (${text}).${hint}`, { status: response.status, code })
    }
    const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown }
    if (typeof body.access_token !== "string") throw new RemoteError("The token endpoint's answer has no access_token.")
    const lifetimeMs = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in * 1000 : 60_000
    // Renewed at 80 % of its life (at most a minute early), so a stream or poll never starts with a token about to expire.
    this.#renewAt = sentAt + lifetimeMs - Math.min(60_000, lifetimeMs / 5)
    this.#token = body.access_token
    return body.access_token
  }
}
