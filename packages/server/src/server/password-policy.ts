/**
 * Which passwords the server accepts, after NIST SP 800-63B (revision 3 §5.1.1.2, revision 4 §3.1.1.2): a length
 * range, no composition rules (no "one digit, one symbol"), and a refusal of passwords that attackers try first —
 * the most common ones, those built on the username, and those zxcvbn estimates under 10^8 guesses. The reason of
 * a refusal is said, never the password itself.
 *
 * The dictionaries (4 MB of source, about 40 MB of heap once ranked, 0.3 to 0.8 s to load) are loaded by the first
 * check, not at start: a server or CLI command that never sets a password never pays for them.
 *
 * @example
 * await passwordProblem("P@ssw0rd!", "alice")                      // "This password is among the most common ..."
 * await passwordProblem("Alice2024", "alice")                      // "This password is too close to the username ..."
 * await passwordProblem("correct horse battery staple", "alice")   // null
 */
import type { ZxcvbnFactory, ZxcvbnResult } from "@zxcvbn-ts/core"

/**
 * Counted in Unicode code points of the NFKC form, as NIST asks, so that decomposed accents do not count twice.
 * The password is still hashed as typed: normalising it there would lock out whoever set one that NFKC changes.
 */
export const MIN_PASSWORD_LENGTH = 8
/** Counted in UTF-16 code units, the unit login checks, so that every accepted password can sign in. */
export const MAX_PASSWORD_LENGTH = 256
export const PASSWORD_RULE = `${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters, neither a commonly used password nor close to the username`

/**
 * zxcvbn's estimate of the guesses an attacker who knows common passwords, words, names, keyboard patterns, l33t
 * spellings and the username needs. 10^8 is the lower bound of zxcvbn's score 3 ("safely unguessable"): it refuses
 * every common password, its l33t and suffixed variants ("P@ssw0rd!", "Summer2024!") and the username with
 * decorations ("Alice123!"), while passphrases ("correct horse battery staple": 10^19) and random strings (10^20
 * for 20 characters) pass far above it, and so does a random string of the minimum length (10^8). Behind login's
 * rate limit that is beyond online guessing, and against a stolen argon2id hash it is weeks of a CPU core per account.
 */
const MIN_GUESSES = 1e8
/**
 * zxcvbn runs on the event loop and its work grows faster than the length: with its defaults a 256-character random
 * string cost 3 s of CPU. Scoring the first 32 characters and 20 l33t readings (not 100) brings the worst we found
 * to about 50 ms. A prefix can only underestimate a password; 32 characters hold every dictionary entry (the
 * longest has 23); copies of the username are looked for in the whole password. 20 readings still caught every
 * l33t spelling of common passwords we tried.
 */
const SCORED_LENGTH = 32
const L33T_READINGS = 20
const USERNAME_PARTS = /[._@-]+/
const ADVICE = "A few unrelated words make a strong password that is easy to remember."
const TOO_CLOSE = `This password is too close to the username. ${ADVICE}`

let zxcvbn: Promise<ZxcvbnFactory> | undefined

/** Why `password` is refused for the account `username` (already normalised), or null when it is acceptable. */
export async function passwordProblem(password: string, username: string): Promise<string | null> {
  if (password.length > MAX_PASSWORD_LENGTH) return `The password is too long: at most ${MAX_PASSWORD_LENGTH} characters.`
  // NFKC first, so that a full-width "ｐａｓｓｗｏｒｄ" counts and matches as "password".
  const normalised = password.normalize("NFKC")
  if ([...normalised].length < MIN_PASSWORD_LENGTH) {
    return `The password is too short: it needs at least ${MIN_PASSWORD_LENGTH} characters. ${ADVICE}`
  }
  const names = [username, ...username.split(USERNAME_PARTS).filter((part) => part.length >= 3)]
  // zxcvbn scores "alice-alice" or "alice.smith" as strong as "purple monkey"; what the username leaves must do alone.
  if ([...withoutNames(normalised, names)].length < MIN_PASSWORD_LENGTH) return TOO_CLOSE
  const result = (await (zxcvbn ??= loadZxcvbn())).check(normalised, names)
  return result.guesses >= MIN_GUESSES ? null : reason(result)
}

/** The password once every copy of each name and of its reversal is taken out. */
function withoutNames(password: string, names: string[]): string {
  let rest = password.toLowerCase()
  for (const name of names) rest = rest.replaceAll(name, "").replaceAll([...name].reverse().join(""), "")
  return rest
}

function reason(result: ZxcvbnResult): string {
  const from = (dictionary: string) => result.sequence.some((match) => match.pattern === "dictionary" && match.dictionaryName === dictionary)
  if (from("userInputs")) return TOO_CLOSE
  if (from("passwords-common")) {
    return `This password is among the most common passwords (or a small variation of one), which attackers try first. ${ADVICE}`
  }
  return ["This password is too easy to guess.", result.feedback.warning, ADVICE].filter(Boolean).join(" ")
}

async function loadZxcvbn(): Promise<ZxcvbnFactory> {
  const [{ ZxcvbnFactory }, common, english] = await Promise.all([
    import("@zxcvbn-ts/core"),
    import("@zxcvbn-ts/language-common"),
    import("@zxcvbn-ts/language-en"),
  ])
  return new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
    maxLength: SCORED_LENGTH,
    l33tMaxSubstitutions: L33T_READINGS,
  })
}
