/**
 * Browser libraries are served from public/vendor as static assets (the Worker bundles none of
 * them). Each is a byte-for-byte copy of the pinned npm package's build, so upgrading the
 * package without refreshing the copy (or editing the copy) fails here.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const VENDORED = [
  { served: "public/vendor/chart.umd.min.js", from: "node_modules/chart.js/dist/chart.umd.min.js", pkg: "chart.js" },
];

describe("vendored browser libraries", () => {
  for (const v of VENDORED) {
    it(`${v.served} is the pinned ${v.pkg} build, byte for byte`, () => {
      const pinned = JSON.parse(readFileSync("package.json", "utf8")).devDependencies[v.pkg] as string;
      const installed = JSON.parse(readFileSync(`node_modules/${v.pkg}/package.json`, "utf8")).version as string;
      expect(installed).toBe(pinned);
      expect(readFileSync(v.served).equals(readFileSync(v.from))).toBe(true);
      expect(readFileSync(v.served, "utf8")).toContain(`Chart.js v${pinned}`);
    });
  }
});
