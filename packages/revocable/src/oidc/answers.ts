// The HTTP answers of the two routes, once for every framework: a 303 with its Set-Cookie values, or the answer to
// an AuthError (the status of its code, as errorAnswer gives it, and the sign-in's own reason as the body's
// `error`; no WWW-Authenticate, these routes take no bearer token), or, with `errorRedirect`, a 303 to that page carrying only the code (so that a crafted link cannot put
// words on the page). Errors that are not AuthErrors are the application's: they are thrown on.
import { isAuthError } from "../errors.ts"
import { errorAnswer } from "../adapters/shared/answers.ts"
import { OidcError } from "./errors.ts"
import type { OidcLogin, OidcRequest } from "./login.ts"

export interface OidcAnswer {
  status: number
  /** Set-Cookie may come several times. */
  headers: Array<[string, string]>
  body: string | null
}

export interface MountOptions {
  /** A page of this application to send the browser to when a sign-in fails, with `?error=<code>`. Default: a JSON answer. */
  errorRedirect?: string
}

const LOCAL_PATH = /^\/(?![/\\])[\x21-\x7E]*$/

export function checkedMount(login: OidcLogin, options: MountOptions): void {
  if (typeof login?.start !== "function" || typeof login.callback !== "function") throw new TypeError("A sign-in mount takes what oidcLogin() returned.")
  if (options.errorRedirect !== undefined && (typeof options.errorRedirect !== "string" || !LOCAL_PATH.test(options.errorRedirect))) {
    throw new TypeError('Option errorRedirect must be a path of this application, such as "/".')
  }
}

export async function startAnswer(login: OidcLogin, request: OidcRequest, options: MountOptions): Promise<OidcAnswer> {
  try {
    const started = await login.start(request)
    return redirect(started.redirectTo, [started.setCookie])
  } catch (error) {
    return failure(error, [], options)
  }
}

export async function callbackAnswer(login: OidcLogin, request: OidcRequest, options: MountOptions): Promise<OidcAnswer> {
  try {
    const signedIn = await login.callback(request)
    return redirect(signedIn.returnTo, signedIn.setCookies)
  } catch (error) {
    // The transaction is spent or useless either way: the browser drops its cookie.
    return failure(error, [login.clearCookie], options)
  }
}

function redirect(location: string, cookies: string[]): OidcAnswer {
  return { status: 303, headers: [["location", location], ["cache-control", "no-store"], ...cookies.map((cookie): [string, string] => ["set-cookie", cookie])], body: null }
}

function failure(error: unknown, cookies: string[], options: MountOptions): OidcAnswer {
  if (!isAuthError(error)) throw error
  const code = error instanceof OidcError ? error.reason : error.code
  if (options.errorRedirect !== undefined) {
    const target = new URL(options.errorRedirect, "http://local.invalid")
    target.searchParams.set("error", code)
    return redirect(`${target.pathname}${target.search}`, cookies)
  }
  const { status } = errorAnswer(error)
  const headers: Array<[string, string]> = [["content-type", "application/json"], ["cache-control", "no-store"]]
  if (status === 503) headers.push(["retry-after", "30"])
  for (const cookie of cookies) headers.push(["set-cookie", cookie])
  const providerError = error instanceof OidcError && error.providerError !== undefined ? { provider_error: error.providerError } : {}
  return { status, headers, body: JSON.stringify({ error: code, error_description: error.message, ...providerError }) }
}
