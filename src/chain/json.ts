// JSON from the chain, read without losing integers. The CPC node writes amounts in blocks as
// JSON numbers, and 100 CPC is 10^20 base units, past the 2^53 that a JavaScript number holds
// exactly. Node 20's JSON.parse cannot show a reviver the source text, so integer literals
// outside the safe range are wrapped before parsing and come back as bigint.

const BIGINT_KEY = '$taskmarket_bigint';

/**
 * JSON.parse, except that integer literals beyond ±(2^53 − 1) become bigint. Fractions and
 * exponents stay numbers. Throws SyntaxError like JSON.parse on malformed text.
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(wrapLargeIntegers(text), (_key, value: unknown) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const keys = Object.keys(value);
      const wrapped = (value as Record<string, unknown>)[BIGINT_KEY];
      if (keys.length === 1 && typeof wrapped === 'string') return BigInt(wrapped);
    }
    return value;
  });
}

const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/** Rewrites unsafe integer literals outside strings as {"$taskmarket_bigint":"digits"}. */
function wrapLargeIntegers(text: string): string {
  let out = '';
  let last = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      // Skip the string, escapes included, so digits inside it are never touched.
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      const literal = m ? m[0] : c;
      if (m && m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(Number(literal))) {
        out += `${text.slice(last, i)}{"${BIGINT_KEY}":"${literal}"}`;
        last = i + literal.length;
      }
      i += literal.length;
    } else i++;
  }
  return out + text.slice(last);
}
