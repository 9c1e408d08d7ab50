/**
 * The OpenID Connect providers users may sign in with, read from `REVOCABLE_OIDC_<NAME>_<SETTING>` variables and
 * the config file's `oidc` object, validated at start like every other setting.
 *
 * @example
 * // REVOCABLE_OIDC_GOOGLE_CLIENT_ID=… REVOCABLE_OIDC_GOOGLE_CLIENT_SECRET=…   (the google preset knows its issuer)
 * // REVOCABLE_OIDC_OKTA_ISSUER=https://example.okta.com REVOCABLE_OIDC_OKTA_CLIENT_ID=… REVOCABLE_OIDC_OKTA_CLIENT_SECRET=…
 * // REVOCABLE_OIDC_OKTA_PRIVATE_KEY_FILE=/etc/revocable/okta.pem   (private_key_jwt instead of the secret)
 * const { providers } = readOidcConfig(process.env, fileSection, "revocable.json")
 */
import { createPrivateKey, type KeyObject } from "node:crypto"
import { readFileSync } from "node:fs"
import { ConfigError } from "../config.ts"

export interface OidcProviderConfig {
  /** The short name in the routes: /auth/oidc/<name>. Lower-case letters and digits. */
  name: string
  issuer: string
  clientId: string
  /** null when the client authenticates with a private key (clientKey). */
  clientSecret: string | null
  /**
   * How the client authenticates at the token endpoint: the secret in HTTP Basic (the default) or in the body
   * (RFC 6749 §2.3.1), or a JWT signed with its private key (private_key_jwt, RFC 7523, OpenID Connect Core §9).
   */
  clientAuth: "basic" | "post" | "private_key_jwt"
  /** private_key_jwt: the key read from privateKeyFile at start. */
  clientKey: ClientKey | null
  scopes: string[]
  /** Google Workspace: the `hd` sent with the request and required in the ID token. */
  hostedDomain: string | null
  /** Links a first sign-in to the local account named by the provider's email when the provider says it is verified. */
  linkVerifiedEmail: boolean
  /** Where the provider sends the browser after RP-initiated logout; null: the console, <REVOCABLE_ISSUER>/. */
  postLogoutRedirectUri: string | null
}

/** A client's private key for private_key_jwt, with the algorithm and key id its assertions carry. */
export interface ClientKey {
  key: KeyObject
  /** RS256 (or the JWK's RS384…PS512), ES256/384/512 by curve, or Ed25519. */
  alg: string
  /** The JWK's `kid`; null for a PEM, whose assertions then name no key. */
  kid: string | null
}

export interface OidcConfig {
  providers: OidcProviderConfig[]
  /** Where a sign-in may send the browser back to (exact URLs), besides paths of this server. */
  returnUrls: string[]
}

/** The presets: what a provider's name alone implies. */
export const PRESETS: Readonly<Record<string, { issuer: string; scopes: string[] }>> = {
  google: { issuer: "https://accounts.google.com", scopes: ["openid", "email", "profile"] },
}

const DEFAULT_SCOPES = ["openid", "email", "profile"]
const NAME = /^[a-z0-9]{1,32}$/
// Names the routes under /auth/oidc use for themselves.
const RESERVED = new Set(["handoff", "identities", "logout"])
const SETTINGS = {
  ISSUER: "issuer",
  CLIENT_ID: "clientId",
  CLIENT_SECRET: "clientSecret",
  CLIENT_AUTH: "clientAuth",
  PRIVATE_KEY_FILE: "privateKeyFile",
  POST_LOGOUT_REDIRECT_URI: "postLogoutRedirectUri",
  SCOPES: "scopes",
  HOSTED_DOMAIN: "hostedDomain",
  LINK_VERIFIED_EMAIL: "linkVerifiedEmail",
} as const
type Key = (typeof SETTINGS)[keyof typeof SETTINGS]
const SUFFIX = Object.fromEntries(Object.entries(SETTINGS).map(([suffix, key]) => [key, suffix])) as Record<Key, string>
const VARIABLE = /^REVOCABLE_OIDC_([A-Z0-9]+)_([A-Z_]+)$/
const RETURN_URLS = "REVOCABLE_OIDC_RETURN_URLS"

type Raw = unknown
class Invalid extends Error {}

/** `section` is the config file's `oidc` value (undefined when absent); `file` names the file in messages. */
export function readOidcConfig(env: NodeJS.ProcessEnv, section: unknown, file: string | undefined): OidcConfig {
  const fromFile = fileProviders(section, file)
  const fromEnv = new Map<string, Partial<Record<Key, string>>>()
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith("REVOCABLE_OIDC_") || variable === RETURN_URLS || value === undefined || value.trim() === "") continue
    const match = VARIABLE.exec(variable)
    const key = match === null ? undefined : SETTINGS[match[2] as keyof typeof SETTINGS]
    if (match === null || key === undefined) {
      throw new ConfigError(variable, `${variable} is not a setting: use REVOCABLE_OIDC_<NAME>_{${Object.keys(SETTINGS).join(",")}} or ${RETURN_URLS}.`)
    }
    const name = (match[1] as string).toLowerCase()
    fromEnv.set(name, { ...fromEnv.get(name), [key]: value.trim() })
  }

  const names = new Set([...fromFile.keys(), ...fromEnv.keys()])
  const providers = [...names].sort().map((name) => {
    const read = <T>(key: Key, parse: (value: Raw) => T, fallback: () => T): T => {
      const variable = `REVOCABLE_OIDC_${name.toUpperCase()}_${SUFFIX[key]}`
      const envValue = fromEnv.get(name)?.[key]
      const fileValues = fromFile.get(name) ?? {}
      const [value, label] = envValue !== undefined ? [envValue, variable] : Object.hasOwn(fileValues, key) ? [fileValues[key], `oidc.providers.${name}.${key} in ${file}`] : [undefined, ""]
      if (value === undefined) return fallback()
      try {
        return parse(value)
      } catch (error) {
        if (error instanceof Invalid) throw new ConfigError(variable, `${label} ${error.message}`)
        throw error
      }
    }
    const missing = (key: Key, variable: string) => (): never => {
      throw new ConfigError(variable, `The OpenID provider ${JSON.stringify(name)} needs ${variable} (or oidc.providers.${name}.${key} in the config file).`)
    }
    const prefix = `REVOCABLE_OIDC_${name.toUpperCase()}_`
    if (!NAME.test(name) || RESERVED.has(name)) throw new ConfigError(`${prefix}ISSUER`, `${JSON.stringify(name)} cannot name an OpenID provider: use 1 to 32 lower-case letters or digits, not ${[...RESERVED].join(" or ")}.`)
    const preset = PRESETS[name]
    const hostedDomain = read("hostedDomain", domain, () => null)
    if (hostedDomain !== null && name !== "google") throw new ConfigError(`${prefix}HOSTED_DOMAIN`, `${prefix}HOSTED_DOMAIN is a Google setting (hd); ${name} is not the google preset.`)
    const clientKey = read("privateKeyFile", privateKey, () => null)
    const clientSecret = read("clientSecret", text, () => null)
    // A client authenticates one way: its secret, or its private key.
    if (clientKey !== null && clientSecret !== null) {
      throw new ConfigError(`${prefix}PRIVATE_KEY_FILE`, `The OpenID provider ${JSON.stringify(name)} has both ${prefix}CLIENT_SECRET and ${prefix}PRIVATE_KEY_FILE: set the one its client authenticates with.`)
    }
    if (clientKey === null && clientSecret === null) {
      throw new ConfigError(`${prefix}CLIENT_SECRET`, `The OpenID provider ${JSON.stringify(name)} needs ${prefix}CLIENT_SECRET (or oidc.providers.${name}.clientSecret in the config file), or ${prefix}PRIVATE_KEY_FILE for private_key_jwt.`)
    }
    const clientAuth = read("clientAuth", (value) => oneOf(value, ["basic", "post", "private_key_jwt"] as const), () => (clientKey === null ? ("basic" as const) : ("private_key_jwt" as const)))
    if ((clientAuth === "private_key_jwt") !== (clientKey !== null)) {
      throw new ConfigError(`${prefix}CLIENT_AUTH`, clientKey === null ? `${prefix}CLIENT_AUTH=private_key_jwt needs ${prefix}PRIVATE_KEY_FILE.` : `${prefix}PRIVATE_KEY_FILE authenticates with private_key_jwt, not ${clientAuth}.`)
    }
    return {
      name,
      issuer: read("issuer", issuerUrl, preset === undefined ? missing("issuer", `${prefix}ISSUER`) : () => preset.issuer),
      clientId: read("clientId", text, missing("clientId", `${prefix}CLIENT_ID`)),
      clientSecret,
      clientAuth,
      clientKey,
      scopes: read("scopes", scopes, () => preset?.scopes ?? DEFAULT_SCOPES),
      hostedDomain,
      linkVerifiedEmail: read("linkVerifiedEmail", boolean, () => false),
      postLogoutRedirectUri: read("postLogoutRedirectUri", redirectUrl, () => null),
    }
  })

  let returnUrls: string[] = []
  const returnValue = env[RETURN_URLS]?.trim() ? env[RETURN_URLS] : isObject(section) ? section.returnUrls : undefined
  if (returnValue !== undefined) {
    try {
      returnUrls = urls(returnValue)
    } catch (error) {
      if (error instanceof Invalid) throw new ConfigError(RETURN_URLS, `${env[RETURN_URLS]?.trim() ? RETURN_URLS : `oidc.returnUrls in ${file}`} ${error.message}`)
      throw error
    }
  }
  return { providers, returnUrls }
}

function fileProviders(section: unknown, file: string | undefined): Map<string, Partial<Record<Key, unknown>>> {
  const found = new Map<string, Partial<Record<Key, unknown>>>()
  if (section === undefined) return found
  const where = `oidc in ${file}`
  if (!isObject(section)) throw new ConfigError("REVOCABLE_CONFIG", `${where} must be an object: {"providers": {"google": {…}}, "returnUrls": […]}.`)
  for (const key of Object.keys(section)) {
    if (key !== "providers" && key !== "returnUrls") throw new ConfigError("REVOCABLE_CONFIG", `Unknown setting ${JSON.stringify(key)} in ${where}; known: providers, returnUrls.`)
  }
  const providers = section.providers ?? {}
  if (!isObject(providers)) throw new ConfigError("REVOCABLE_CONFIG", `oidc.providers in ${file} must be an object of providers by name.`)
  const known = new Set<string>(Object.values(SETTINGS))
  for (const [name, settings] of Object.entries(providers)) {
    if (!isObject(settings)) throw new ConfigError("REVOCABLE_CONFIG", `oidc.providers.${name} in ${file} must be an object.`)
    for (const key of Object.keys(settings)) {
      if (!known.has(key)) throw new ConfigError("REVOCABLE_CONFIG", `Unknown setting ${JSON.stringify(key)} in oidc.providers.${name} in ${file}; known: ${[...known].join(", ")}.`)
    }
    found.set(name, settings as Partial<Record<Key, unknown>>)
  }
  return found
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

function text(value: Raw): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 4096) throw new Invalid("must be a string of 1 to 4096 characters.")
  return value
}

function oneOf<T extends string>(value: Raw, values: readonly T[]): T {
  if (!values.includes(value as T)) throw new Invalid(`must be one of ${values.join(", ")}.`)
  return value as T
}

function boolean(value: Raw): boolean {
  if (value === true || value === "true" || value === "1") return true
  if (value === false || value === "false" || value === "0") return false
  throw new Invalid("must be true or false.")
}

function domain(value: Raw): string {
  if (typeof value !== "string" || !/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$/i.test(value)) throw new Invalid('must be a domain name such as "example.com".')
  return value.toLowerCase()
}

function scopes(value: Raw): string[] {
  const list = typeof value === "string" ? value.split(/[\s,]+/).filter((item) => item !== "") : value
  if (!Array.isArray(list) || !list.every((item) => typeof item === "string" && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(item))) {
    throw new Invalid('must list scopes, e.g. "openid email profile".')
  }
  if (!list.includes("openid")) throw new Invalid('must include "openid".')
  return [...new Set(list as string[])]
}

const EC_ALGORITHMS: Readonly<Record<string, string>> = { prime256v1: "ES256", secp384r1: "ES384", secp521r1: "ES512" }

/** A PEM private key (PKCS#8, PKCS#1 or SEC1) or a private JWK, read from the named file. */
function privateKey(value: Raw): ClientKey {
  const path = text(value)
  let content: string
  try {
    content = readFileSync(path, "utf8").trim()
  } catch (error) {
    throw new Invalid(`names a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}).`)
  }
  let key: KeyObject
  let jwk: Record<string, unknown> = {}
  try {
    if (content.startsWith("{")) {
      const parsed: unknown = JSON.parse(content)
      if (!isObject(parsed)) throw new Invalid("")
      jwk = parsed
      key = createPrivateKey({ key: parsed, format: "jwk" })
    } else {
      key = createPrivateKey(content)
    }
  } catch {
    // Never the file's text in the message: it is a private key.
    throw new Invalid("holds no private key: it must hold one in PEM (BEGIN PRIVATE KEY) or a private JWK (a public key is not enough).")
  }
  const kid = typeof jwk.kid === "string" && jwk.kid !== "" ? jwk.kid : null
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case "rsa": {
      if ((details.modulusLength ?? 0) < 2048) throw new Invalid("holds an RSA key shorter than 2048 bits.")
      const alg = jwk.alg ?? "RS256"
      if (typeof alg !== "string" || !/^(RS|PS)(256|384|512)$/.test(alg)) throw new Invalid("holds an RSA JWK whose alg is not one of RS256, RS384, RS512, PS256, PS384, PS512.")
      return { key, alg, kid }
    }
    case "ec": {
      const alg = EC_ALGORITHMS[details.namedCurve ?? ""]
      if (alg === undefined) throw new Invalid("holds an EC key on a curve other than P-256, P-384 or P-521.")
      return { key, alg, kid }
    }
    case "ed25519":
      return { key, alg: "Ed25519", kid }
    default:
      throw new Invalid("holds a key of a type private_key_jwt does not use: RSA, EC (P-256, P-384, P-521) or Ed25519.")
  }
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"])

/** An absolute https URL (http on loopback), without fragment: a URL registered at the provider. */
function redirectUrl(value: Raw): string {
  let parsed: URL
  try {
    parsed = new URL(text(value))
  } catch {
    throw new Invalid('must be an absolute URL, e.g. "https://auth.example.com/".')
  }
  if (parsed.hash !== "" || (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && LOOPBACK.has(parsed.hostname)))) {
    throw new Invalid("must be an https URL (http only on localhost) without fragment.")
  }
  return value as string
}

/** https, or http on loopback only (a provider on the same machine, in development and tests). */
function issuerUrl(value: Raw): string {
  let parsed: URL
  try {
    parsed = new URL(text(value))
  } catch {
    throw new Invalid('must be the provider\'s issuer URL, e.g. "https://example.okta.com".')
  }
  if (parsed.search !== "" || parsed.hash !== "") throw new Invalid("must be a URL without query or fragment (OpenID Connect Discovery §2).")
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && LOOPBACK.has(parsed.hostname))) {
    throw new Invalid("must be an https URL (http only for a provider on localhost).")
  }
  return value as string
}

function urls(value: Raw): string[] {
  const list = typeof value === "string" ? value.split(",").map((item) => item.trim()).filter((item) => item !== "") : value
  if (!Array.isArray(list)) throw new Invalid('must list URLs, e.g. "https://app.example/signed-in".')
  for (const item of list) {
    let valid = false
    try {
      const parsed = new URL(item as string)
      valid = typeof item === "string" && parsed.hash === "" && parsed.protocol !== "javascript:" && parsed.protocol !== "data:"
    } catch {
      valid = false
    }
    if (!valid) throw new Invalid(`holds ${JSON.stringify(item)}, which is not an absolute URL without fragment.`)
  }
  return list as string[]
}
