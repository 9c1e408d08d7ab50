// Which targets a webhook may reach (SSRF): https (or http when allowed), no credentials in the URL, and no
// loopback, private, link-local or other non-public address unless allowed, checked on the URL at registration
// and on the address each delivery connects to, after DNS.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns"
import { BlockList, isIP, type LookupFunction } from "node:net"
import { AuthError } from "revocable"
import type { WebhookSettings } from "./delivery-settings.ts"

const MAX_URL = 2048

/** The endpoint's URL, checked: https (or http when allowed), no credentials, not an address refused by the settings. */
export function checkTarget(url: unknown, settings: Pick<WebhookSettings, "allowHttp" | "allowPrivate">): URL {
  let target: URL
  try {
    if (typeof url !== "string" || url.length > MAX_URL) throw new TypeError()
    target = new URL(url)
  } catch {
    throw new AuthError("invalid_request", `The webhook URL must be an absolute https:// URL of at most ${MAX_URL} characters.`)
  }
  if (target.protocol !== "https:" && !(target.protocol === "http:" && settings.allowHttp)) {
    throw new AuthError("invalid_request", "The webhook URL must use https:// (http:// only with REVOCABLE_WEBHOOKS_ALLOW_HTTP=true).")
  }
  if (target.username !== "" || target.password !== "") throw new AuthError("invalid_request", "The webhook URL must not carry credentials: the signature authenticates the server.")
  target.hash = ""
  const host = hostOf(target)
  if (!settings.allowPrivate && (isIP(host) === 0 ? host === "localhost" || host.endsWith(".localhost") : !isPublic(host))) {
    throw new AuthError("invalid_request", "The webhook URL names a loopback or private address (allowed only with REVOCABLE_WEBHOOKS_ALLOW_PRIVATE=true).")
  }
  return target
}

/** The URL's host as DNS or isIP takes it: an IPv6 literal without its brackets. */
export function hostOf(target: URL): string {
  return target.hostname.replace(/^\[(.*)\]$/, "$1")
}

/** Non-public ranges (RFC 6890 and the IANA special-purpose registries): what a webhook may not reach by default. */
const NON_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24],
  ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NON_PUBLIC.addSubnet(network, prefix, "ipv4")
for (const [network, prefix] of [["::", 128], ["::1", 128], ["64:ff9b::", 96], ["100::", 64], ["2001:db8::", 32], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8]] as const) {
  NON_PUBLIC.addSubnet(network, prefix, "ipv6")
}

export function isPublic(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return isPublic(mapped[1] as string)
  const family = isIP(address)
  if (family === 0) return false
  return !NON_PUBLIC.check(address, family === 4 ? "ipv4" : "ipv6")
}

/** How a delivery resolves its target's name: dns.lookup (the system's resolver) unless a test gives its own. */
export type Resolve = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

const systemResolve: Resolve = (hostname, options, callback) => dnsLookup(hostname, options, callback)

/** DNS resolution that refuses non-public addresses: the check is on the address connected to, not a name. */
export function publicLookup(resolve: Resolve = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, resolved) => {
      if (error) return callback(error, "", 0)
      const allowed = resolved.filter((entry) => isPublic(entry.address))
      const first = allowed[0]
      if (first === undefined) return callback(Object.assign(new Error(`${hostname} resolves to no public address`), { code: "ENOTPUBLIC" }), "", 0)
      if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, allowed)
      callback(null, first.address, first.family)
    })
  }
}
