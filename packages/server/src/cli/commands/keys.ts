// `revocable keys list|rotate|retire|rewrap`: the signing keys revocable manages in the store.
import { command, type Group } from "../args.ts"
import { listedKeys, rewrapKeys, storeNow, type ListedKey } from "../../server/keystore.ts"
import { CliError, json, table, time } from "./context.ts"

/** What a key does, as `keys list` shows it: a key waiting for its activation says when it signs from. */
function statusText(key: ListedKey): string {
  return key.status === "next" ? `next, signs from ${time(key.activatesAt)}` : key.status
}

const list = command({
  name: "keys list",
  summary: "List the signing keys, newest first, with what each does now.",
  options: { json: { type: "boolean", help: "print the keys as JSON (never the private parts)" } },
  description: [
    "STATUS: signing (new tokens are signed with it); next, signs from TIME (published in the JWKS, signing from",
    "then, on every instance by itself); verifies (only verifies tokens it signed); retired (every token it signed is refused).",
  ].join("\n"),
  async run({ values }, context) {
    const { store } = await context.runtime()
    const keys = listedKeys(await store.listKeys(), await storeNow(store))
    if (values.json) return context.out(json(keys))
    if (keys.length === 0) return context.out("no keys in the store")
    context.out(table(["KID", "ALG", "STATUS", "CREATED", "RETIRED"], keys.map((key) => [key.kid, key.alg, statusText(key), time(key.createdAt), time(key.retiredAt)])))
  },
})

const rotate = command({
  name: "keys rotate",
  summary: "Make a new key: published at once, signing after REVOCABLE_KEY_ACTIVATION_DELAY (--now: at once).",
  options: {
    now: { type: "boolean", help: "sign with it at once (an emergency): verifiers refuse its tokens until they refetch the JWKS" },
    json: { type: "boolean", help: "print {kid, activatesAt} as JSON" },
  },
  description: [
    "The new key is in the JWKS at once and signs from the activation delay on (REVOCABLE_KEY_ACTIVATION_DELAY,",
    "default 15m), on every instance by itself, so that resource servers caching the JWKS already hold it when the",
    "first token it signs reaches them. Tokens signed by the older keys stay valid until they expire. A leaked key is",
    "retired instead (keys retire), which makes a key that signs at once.",
  ].join("\n"),
  examples: ["revocable keys rotate", "revocable keys rotate --now"],
  async run({ values }, context) {
    const { auth } = await context.runtime()
    let rotated: { kid: string; activatesAt: number }
    try {
      rotated = await auth.rotateKey({ now: values.now === true })
    } catch (error) {
      // Keys given in the configuration are not the store's to replace.
      if (error instanceof TypeError) throw new CliError(error.message)
      throw error
    }
    if (values.json) return context.out(json(rotated))
    context.out(
      values.now === true
        ? `new key ${rotated.kid} signs now: verifiers that cached the JWKS refuse its tokens until they fetch it again`
        : `new key ${rotated.kid} is published in the JWKS and signs from ${time(rotated.activatesAt)}`,
    )
  },
})

const retire = command({
  name: "keys retire",
  summary: "Retire a key: every token it signed is refused from now on, on every instance.",
  args: ["KID"],
  options: {
    reason: { type: "string", value: "TEXT", help: "why, kept with the revocation" },
    json: { type: "boolean", help: "print the revocation as JSON" },
  },
  description: "Retiring the current key makes a new one current. Users signed in with the retired key must log in again.",
  examples: ["revocable keys retire 3mJf0cQ2 --reason \"key leaked\""],
  async run({ values, positionals }, context) {
    const kid = positionals[0] ?? ""
    const { auth, store } = await context.runtime()
    if (!(await store.listKeys()).some((key) => key.kid === kid)) throw new CliError(`no key has kid ${JSON.stringify(kid)}`)
    const revocation = await auth.retireKey(kid, { actor: context.actor, ...(values.reason === undefined ? {} : { reason: values.reason }) })
    context.out(values.json ? json(revocation) : `retired key ${kid}: every token it signed is refused`)
  },
})

const rewrap = command({
  name: "keys rewrap",
  summary: "Re-wrap every stored key under the newest key-encryption key.",
  options: { json: { type: "boolean", help: "print {kek, rewrapped} as JSON" } },
  description: [
    "To rotate the key-encryption key: give every instance the new one first in REVOCABLE_KEY_ENCRYPTION_KEY, the",
    "old one after it (NEW,OLD); run this; then drop the old one. No token is affected.",
  ].join("\n"),
  examples: ['REVOCABLE_KEY_ENCRYPTION_KEY="$NEW,$OLD" revocable keys rewrap'],
  async run({ values }, context) {
    const { store } = await context.runtime()
    const result = await rewrapKeys(store)
    if (values.json) return context.out(json(result))
    const count = result.rewrapped.length
    context.out(`re-wrapped ${count} key${count === 1 ? "" : "s"} under the key-encryption key ${result.kek}`)
  },
})

export const keys: Group = {
  name: "keys",
  summary: "Manage the signing keys kept in the store.",
  description:
    "The server generates an EdDSA key on first start and keeps it in the store, shared by every instance, wrapped under the key-encryption key.",
  commands: [list, rotate, retire, rewrap],
}
