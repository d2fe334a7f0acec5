import { assert } from "./limits";

/**
 * A multi-pattern matcher (Aho–Corasick, 1975) over sequences of code points: one pass over
 * the text finds every occurrence of every pattern, overlapping ones included, in time linear
 * in the text plus the matches, whatever the number of patterns. Built once per word list
 * (the isolate caches it with the list), then run on every message.
 *
 * Patterns and text are arrays of strings, one code point each, so a surrogate pair is one
 * symbol and positions are code-point indices.
 */
export interface PatternMatch {
  /** The pattern's index in the list it was built from. */
  readonly pattern: number;
  /** Code-point positions in the text: [start, end). */
  readonly start: number;
  readonly end: number;
}

interface Node {
  readonly next: Map<string, number>;
  fail: number;
  /** Patterns ending here, as (index, length); the fail chain's outputs are followed at search time. */
  readonly out: { pattern: number; length: number }[];
  /** The nearest node on the fail chain (excluding this one) with outputs, or -1. */
  outLink: number;
}

export class AhoCorasick {
  private readonly nodes: Node[] = [{ next: new Map(), fail: 0, out: [], outLink: -1 }];

  constructor(patterns: readonly (readonly string[])[]) {
    for (const [index, pattern] of patterns.entries()) {
      assert(pattern.length > 0, "a pattern has at least one symbol");
      let at = 0;
      for (const symbol of pattern) {
        const node = this.nodes[at] as Node;
        let child = node.next.get(symbol);
        if (child === undefined) {
          child = this.nodes.length;
          this.nodes.push({ next: new Map(), fail: 0, out: [], outLink: -1 });
          node.next.set(symbol, child);
        }
        at = child;
      }
      (this.nodes[at] as Node).out.push({ pattern: index, length: pattern.length });
    }
    // Breadth first: a node's fail link is the longest proper suffix of its path that is a path.
    const queue: number[] = [];
    for (const child of (this.nodes[0] as Node).next.values()) queue.push(child);
    for (let head = 0; head < queue.length; head++) {
      const id = queue[head] as number;
      const node = this.nodes[id] as Node;
      for (const [symbol, child] of node.next) {
        let f = node.fail;
        while (f !== 0 && !(this.nodes[f] as Node).next.has(symbol)) f = (this.nodes[f] as Node).fail;
        const target = (this.nodes[f] as Node).next.get(symbol);
        const childNode = this.nodes[child] as Node;
        childNode.fail = target !== undefined && target !== child ? target : 0;
        const failNode = this.nodes[childNode.fail] as Node;
        childNode.outLink = failNode.out.length > 0 ? childNode.fail : failNode.outLink;
        queue.push(child);
      }
    }
  }

  /** Every occurrence of every pattern in `text`, ordered by where it ends. */
  search(text: readonly string[]): PatternMatch[] {
    const found: PatternMatch[] = [];
    let at = 0;
    for (let i = 0; i < text.length; i++) {
      const symbol = text[i] as string;
      while (at !== 0 && !(this.nodes[at] as Node).next.has(symbol)) at = (this.nodes[at] as Node).fail;
      at = (this.nodes[at] as Node).next.get(symbol) ?? 0;
      // The root has no outputs (no pattern is empty): -1 and 0 both end the output chain.
      for (let o = at; o > 0; o = (this.nodes[o] as Node).outLink) {
        for (const { pattern, length } of (this.nodes[o] as Node).out) {
          found.push({ pattern, start: i + 1 - length, end: i + 1 });
        }
      }
    }
    return found;
  }
}

/** The reference the automaton is tested against: every pattern tried at every position. */
export function naiveSearch(patterns: readonly (readonly string[])[], text: readonly string[]): PatternMatch[] {
  const found: PatternMatch[] = [];
  for (const [pattern, p] of patterns.entries()) {
    for (let start = 0; start + p.length <= text.length; start++) {
      if (p.every((symbol, k) => text[start + k] === symbol)) found.push({ pattern, start, end: start + p.length });
    }
  }
  return found;
}
