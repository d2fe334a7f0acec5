/**
 * Just enough of TOML's lexical structure to edit wrangler.toml as text: where each table
 * (`[name]`, `[[name]]`) starts and ends, and its one-line `key = "string"` entries. The set-up
 * edits text rather than re-serialising a parse because wrangler.toml's comments are part of
 * the project's documentation and no TOML writer keeps them (wrangler's own config patcher
 * refuses TOML with comments). What an edit produced is checked afterwards with wrangler's
 * parser (rewrite-config.ts, verifyRewrite), so a construct this reader does not understand
 * fails loudly instead of being mis-edited.
 */

export interface TomlBlock {
  /** The table's name as written between the brackets, spaces around dots removed. */
  readonly name: string;
  /** `[[name]]`: one element of an array of tables. */
  readonly isArray: boolean;
  /** Line index of the header. */
  readonly header: number;
  /** Line index of the block's last line of content (comments and blanks after it belong to what follows). */
  readonly end: number;
  /** One-line entries whose key is bare or quoted: key → line index. */
  readonly keys: ReadonlyMap<string, number>;
}

const HEADER = /^\s*(\[\[?)\s*([^\]#]*?)\s*(\]\]?)\s*(?:#.*)?$/;
const ENTRY = /^(\s*)([A-Za-z0-9_-]+|"[^"\\]*")(\s*=\s*)(.*)$/;
const STRING_VALUE = /^("(?:[^"\\]|\\.)*"|'[^']*')(.*)$/;

type LexState = "value" | "basic" | "literal" | "multiline-basic" | "multiline-literal";

/**
 * For each line, whether it starts at the top level: outside every string, array and inline
 * table. Only such lines can be headers or entries; a `[` that opens a line inside a multi-line
 * array, or `[[d1_databases]]` inside a multi-line string, is neither.
 */
export function topLevelLines(lines: readonly string[]): boolean[] {
  let state: LexState = "value";
  let depth = 0;
  const result: boolean[] = [];
  for (const line of lines) {
    const atTop = state === "value" && depth === 0;
    result.push(atTop);
    if (atTop && line.trimStart().startsWith("[")) continue; // a header: nothing in it spans lines
    for (let i = 0; i < line.length; i++) {
      const rest = line.slice(i);
      if (state === "value") {
        if (rest.startsWith("#")) break;
        if (rest.startsWith('"""')) {
          state = "multiline-basic";
          i += 2;
        } else if (rest.startsWith("'''")) {
          state = "multiline-literal";
          i += 2;
        } else if (rest[0] === '"') state = "basic";
        else if (rest[0] === "'") state = "literal";
        else if (rest[0] === "[" || rest[0] === "{") depth++;
        else if (rest[0] === "]" || rest[0] === "}") depth = Math.max(0, depth - 1);
      } else if (state === "basic" || state === "multiline-basic") {
        if (rest[0] === "\\") i++;
        else if (state === "basic" && rest[0] === '"') state = "value";
        else if (state === "multiline-basic" && rest.startsWith('"""')) {
          state = "value";
          i += 2;
        }
      } else if (state === "literal" && rest[0] === "'") state = "value";
      else if (state === "multiline-literal" && rest.startsWith("'''")) {
        state = "value";
        i += 2;
      }
    }
    // A single-line string cannot run past its line; TOML calls that an error, wrangler will too.
    if (state === "basic" || state === "literal") state = "value";
  }
  return result;
}

const isBlankOrComment = (line: string): boolean => /^\s*(#.*)?$/.test(line);

/** Every table in the text, in order. Lines before the first header (the root table) are in none. */
export function tomlBlocks(lines: readonly string[]): TomlBlock[] {
  const top = topLevelLines(lines);
  const headers: { index: number; name: string; isArray: boolean }[] = [];
  lines.forEach((line, index) => {
    const match = top[index] ? HEADER.exec(line) : null;
    if (match && (match[1] === "[[") === (match[3] === "]]")) {
      headers.push({ index, name: (match[2] ?? "").replace(/\s*\.\s*/g, "."), isArray: match[1] === "[[" });
    }
  });
  return headers.map((header, n) => {
    const limit = headers[n + 1]?.index ?? lines.length;
    let end = header.index;
    const keys = new Map<string, number>();
    for (let index = header.index + 1; index < limit; index++) {
      const line = lines[index] ?? "";
      if (!top[index] || !isBlankOrComment(line)) end = index;
      const entry = top[index] ? ENTRY.exec(line) : null;
      if (entry) keys.set(unquoteKey(entry[2] ?? ""), index);
    }
    return { name: header.name, isArray: header.isArray, header: header.index, end, keys };
  });
}

function unquoteKey(key: string): string {
  return key.startsWith('"') ? key.slice(1, -1) : key;
}

interface StringEntry {
  readonly indent: string;
  readonly key: string;
  readonly equals: string;
  readonly value: string;
  /** What follows the value: spaces and perhaps a comment. */
  readonly rest: string;
}

function stringEntryOf(line: string): StringEntry | undefined {
  const entry = ENTRY.exec(line);
  const parts = STRING_VALUE.exec(entry?.[4] ?? "");
  if (!entry || !parts || !/^\s*(#.*)?$/.test(parts[2] ?? "")) return undefined;
  const literal = parts[1] ?? "";
  let value: string;
  if (literal.startsWith("'")) value = literal.slice(1, -1);
  else {
    // A basic string's escapes are JSON's but for \U and \e, which no binding, name or id uses:
    // a value JSON cannot read is reported as not a plain string rather than guessed at.
    try {
      value = JSON.parse(literal) as string;
    } catch {
      return undefined;
    }
  }
  return { indent: entry[1] ?? "", key: entry[2] ?? "", equals: entry[3] ?? "", value, rest: parts[2] ?? "" };
}

/** The string an entry line holds (`key = "value" # note`), or undefined when its value is not a one-line string. */
export function stringValueOf(line: string): string | undefined {
  return stringEntryOf(line)?.value;
}

/** The entry line with its string value replaced; indentation, spacing and a trailing comment are kept. */
export function withStringValue(line: string, value: string): string | undefined {
  const entry = stringEntryOf(line);
  return entry && `${entry.indent}${entry.key}${entry.equals}${JSON.stringify(value)}${entry.rest}`;
}
