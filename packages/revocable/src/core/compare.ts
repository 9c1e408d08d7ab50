// Comparing secrets (token hashes, CSRF tokens, client secret hashes) in time that does not depend on where they differ.
import { timingSafeEqual } from "node:crypto"

/** Whether two strings are equal, compared in constant time for strings of the same length. */
export function equalsInConstantTime(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
