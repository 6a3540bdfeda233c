// How deep a client's input may nest, checked before zod or the audit trail walk it: both recurse,
// and an input nested 20,000 deep (a few KiB of JSON) would overflow the stack, a 500 after the
// change was made. Both checks here are iterative.

/** No procedure's input nests more than a few levels; 32 leaves room and stays far from the stack's limit. */
export const MAX_INPUT_DEPTH = 32;

export const NESTED_TOO_DEEPLY = `Input is nested too deeply (at most ${MAX_INPUT_DEPTH} levels)`;

/** Whether an already parsed value nests arrays or objects more than `maxDepth` levels. */
export function nestsDeeperThan(value: unknown, maxDepth = MAX_INPUT_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth >= maxDepth) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** The same for JSON text, before JSON.parse spends time and memory on it: brackets outside strings. */
export function jsonNestsDeeperThan(text: string, maxDepth = MAX_INPUT_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;  // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > maxDepth) return true; }
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
