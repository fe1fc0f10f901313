import { randomBytes } from "node:crypto";
import { now } from "./clock";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case: sortable, unambiguous

function encodeTime(ms: number, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! % 32];
  return out;
}

/** Public ids carry a type prefix and sort by creation time: `newId("drf")` → `drf_01j…`. */
export function newId(prefix: "drf" | "msg" | "evt" | "qtn" | "key" | "run" | "whd" | "adm" | "ses"): string {
  return `${prefix}_${encodeTime(now(), 10)}${encodeRandom(12)}`;
}

/** `length` characters from the base32 alphabet, each from a fresh random byte (5 bits of entropy each). */
export function randomToken(length: number): string {
  return encodeRandom(length);
}
