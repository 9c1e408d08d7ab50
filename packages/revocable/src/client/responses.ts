/// <reference lib="dom" />
// The server's answers as the client reads them: the tokens of a success, the ClientError of a failure.
import type { Tokens } from "./storage.ts"

/** An answer that was not a success: `code` is the server's (`error`), or "network_error" (status 0). */
export class ClientError extends Error {
  override name = "ClientError"
  readonly code: string
  readonly status: number
  /** Seconds, from Retry-After (429). */
  readonly retryAfter: number | null

  constructor(code: string, status: number, message: string, options?: { retryAfter?: number | null; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = status
    this.retryAfter = options?.retryAfter ?? null
  }
}

export async function tokensOf(response: Response): Promise<Tokens> {
  const body: unknown = await response.json().catch(() => null)
  const { access_token, refresh_token, session_id, csrf_token } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>
  if (typeof access_token !== "string") throw new ClientError("invalid_response", response.status, "The server's answer holds no access token.")
  return {
    accessToken: access_token,
    sessionId: typeof session_id === "string" ? session_id : null,
    ...(typeof refresh_token === "string" ? { refreshToken: refresh_token } : {}),
    ...(typeof csrf_token === "string" ? { csrfToken: csrf_token } : {}),
  }
}

export async function errorOf(response: Response): Promise<ClientError> {
  const body: unknown = await response.clone().json().catch(() => null)
  const { error, error_description } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>
  const retry = Number(response.headers.get("retry-after"))
  return new ClientError(
    typeof error === "string" ? error : `http_${response.status}`,
    response.status,
    typeof error_description === "string" ? error_description : response.statusText || `HTTP ${response.status}`,
    { retryAfter: response.headers.has("retry-after") && Number.isFinite(retry) ? retry : null },
  )
}
