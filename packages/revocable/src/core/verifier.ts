// What the adapters' authenticate needs of an instance: createAuth's Auth and revocable/remote's verifier both fit.
import type { Auth } from "./auth.ts"

/** Anything with `verify` as `createAuth` has it: an `Auth`, or a `remoteVerifier` (revocable/remote). */
export type Verifier = Pick<Auth, "verify">
