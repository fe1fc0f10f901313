/**
 * The text of each element of a request's top-level array, exactly as the client wrote it (SPEC §2: an event's
 * payload is stored verbatim — the bytes received, not a re-serialisation that would turn `1.0` into `1` or drop
 * the client's spacing). Works on a body that `JSON.parse` has already accepted, so it only has to find
 * boundaries, not to validate. Returns `undefined` when it cannot be sure (the caller then stores the parsed
 * value): the key is looked up as JSON.parse would, the last of duplicate keys winning.
 *
 * @example rawArrayItems('{"events": [ {"a": 1.0}, {"b":2} ]}', "events") // ['{"a": 1.0}', '{"b":2}']
 */
export function rawArrayItems(text: string, key: string): string[] | undefined {
  try {
    return scanArrayItems(text, key);
  } catch {
    return undefined;
  }
}

function scanArrayItems(text: string, key: string): string[] | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  i = skipSpace(text, i + 1);
  let found: string[] | undefined;
  while (i < text.length && text.charCodeAt(i) !== CLOSE_OBJECT) {
    const keyEnd = stringEnd(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string; // escapes in a key (`"ev\u0065nts"`) count as JSON.parse reads them
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // the colon
    if (name === key && text.charCodeAt(i) === OPEN_ARRAY) {
      found = [];
      i = skipSpace(text, i + 1);
      while (text.charCodeAt(i) !== CLOSE_ARRAY) {
        const end = valueEnd(text, i);
        found.push(text.slice(i, end));
        i = skipSpace(text, end);
        if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
      }
      i = skipSpace(text, i + 1);
    } else {
      i = skipSpace(text, valueEnd(text, i));
    }
    if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
  }
  return found;
}

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** `i` at an opening quote → the index just after its closing quote. */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; ; ) {
    const quote = text.indexOf('"', j);
    if (quote === -1) throw new Error("unterminated string");
    let backslashes = 0;
    for (let k = quote - 1; text.charCodeAt(k) === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    j = quote + 1;
  }
}

/** `i` at the first character of a value → the index just after it. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i);
  if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) {
    let j = i;
    while (j < text.length && !isDelimiter(text.charCodeAt(j))) j++;
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; ) {
    const d = text.charCodeAt(j);
    if (d === QUOTE) {
      j = stringEnd(text, j);
      continue;
    }
    if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
    else if ((d === CLOSE_OBJECT || d === CLOSE_ARRAY) && --depth === 0) return j + 1;
    j++;
  }
  throw new Error("unterminated value");
}

function isDelimiter(c: number): boolean {
  return c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
