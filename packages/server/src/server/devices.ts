// Device cookies, after OWASP's "Slow down online guessing attacks with device cookies": a client that signed in
// to an account gets a credential bound to that account (a cookie for browsers, a `device_token` for the others)
// and its later sign-ins are limited on their own, so failures from elsewhere never lock it out. The credential
// is `NONCE.MAC`: an HMAC over the account's login name and a random nonce, under a key kept in the store and
// shared by every instance. It grants no access, only a separate rate-limit bucket.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto"
import { hashEquals, type ServerStore } from "revocable/stores"
import { storedSecret } from "./secrets.ts"

export interface Devices {
  /** The nonce of `credential` when it is a device credential of this login, else null. */
  recognise(credential: string | undefined, login: string): string | null
  /** A new device credential for this login. */
  issue(login: string): string
  /** The device cookie's name for this login: one cookie per account in a browser. */
  cookieName(login: string): string
}

const SETTINGS = "settings"
const KEY_ID = "device-cookie-key"
const CREDENTIAL = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/

const loaded = new WeakMap<ServerStore, Promise<Devices>>()

/** The store's device key (made on first use), once per store object. */
export function devicesOf(store: ServerStore): Promise<Devices> {
  let devices = loaded.get(store)
  if (devices === undefined) {
    devices = loadKey(store).then(deviceCredentials)
    // A failed load (store down) is tried again by the next sign-in.
    devices.catch(() => loaded.delete(store))
    loaded.set(store, devices)
  }
  return devices
}

/** The login name as the user directory normalises it, so "Alice " and "alice" share one device credential. */
export function loginName(username: string): string {
  return username.trim().toLowerCase()
}

async function loadKey(store: ServerStore): Promise<KeyObject> {
  return createSecretKey(await storedSecret(store, SETTINGS, KEY_ID))
}

function deviceCredentials(key: KeyObject): Devices {
  const mac = (purpose: string, ...parts: string[]) => createHmac("sha256", key).update([purpose, ...parts].join("\n")).digest("base64url")
  return {
    recognise(credential, login) {
      const match = typeof credential === "string" ? CREDENTIAL.exec(credential) : null
      if (match === null) return null
      const [, nonce = "", presented = ""] = match
      return hashEquals(mac("device", loginName(login), nonce), presented) ? nonce : null
    },
    issue(login) {
      const nonce = randomBytes(16).toString("base64url")
      return `${nonce}.${mac("device", loginName(login), nonce)}`
    },
    cookieName(login) {
      return `device_${mac("cookie", loginName(login)).slice(0, 16)}`
    },
  }
}
