/**
 * A host's login service as far as giftwire sees it: a JSON Web Key Set per test, served at
 * https://login.host.test/{name}/jwks.json through the test network (provider-network.ts), so
 * the Worker under test fetches it exactly as it fetches a real host's (HOST_JWKS_URL).
 *
 * Tests steer it at https://doubles.test/host-login/{name}:
 *   PUT {keys, status?, padBytes?}   what the set holds from now on (public JWKs), or the status
 *                         it answers instead (a login service that is down; 302 answers a
 *                         redirect); `padBytes` pads the document with that many bytes
 *   GET                   { fetches }: how many times the set was fetched
 * Each test uses its own name: both workers projects and every file share this one server.
 */

export const HOST_LOGIN_HOST = "login.host.test";

interface KeySet {
  keys: unknown[];
  status: number;
  padBytes: number;
  fetches: number;
}

export class HostLogin {
  private readonly sets = new Map<string, KeySet>();

  /** The key set a Worker fetches: GET /{name}/jwks.json. */
  fetch(request: Request): Response {
    const [, name, file] = new URL(request.url).pathname.split("/");
    const set = name ? this.sets.get(name) : undefined;
    if (!set || file !== "jwks.json" || request.method !== "GET") return new Response("not found", { status: 404 });
    set.fetches += 1;
    if (set.status === 302) {
      return new Response(null, { status: 302, headers: { location: `https://${HOST_LOGIN_HOST}/elsewhere` } });
    }
    if (set.status !== 200) return new Response("login service unavailable", { status: set.status });
    return Response.json(set.padBytes > 0 ? { keys: set.keys, padding: "x".repeat(set.padBytes) } : { keys: set.keys });
  }

  /** PUT or GET https://doubles.test/host-login/{name}. */
  async control(url: URL, request: Request): Promise<Response> {
    const name = url.pathname.split("/")[2];
    if (!name) return new Response("name the key set", { status: 400 });
    if (request.method === "PUT") {
      const body = (await request.json()) as { keys?: unknown[]; status?: number; padBytes?: number };
      const fetches = this.sets.get(name)?.fetches ?? 0;
      this.sets.set(name, { keys: body.keys ?? [], status: body.status ?? 200, padBytes: body.padBytes ?? 0, fetches });
      return Response.json({ ok: true });
    }
    return Response.json({ fetches: this.sets.get(name)?.fetches ?? 0 });
  }
}
