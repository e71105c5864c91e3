import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import type { FetchLike } from "./send.ts";

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * An upstream answer read whole: a WHATWG Response whose text()/json()/arrayBuffer() read the
 * buffer directly. `new Response(buffer)` wraps the buffer in a ReadableStream and reads it back
 * through it, which cost about 40 µs per call, a tenth of the gateway's CPU per proxied request;
 * the stream is now made only if someone asks for `body`.
 */
class BufferedResponse extends Response {
  readonly #buffer: Buffer | null;
  #used = false;
  #stream: ReadableStream<Uint8Array> | null | undefined;

  constructor(buffer: Buffer | null, init: ResponseInit) {
    super(null, init);
    this.#buffer = buffer;
  }

  /** `body`, made on demand (see the accessors defined below the class). */
  lazyBody(): ReadableStream<Uint8Array> | null {
    if (this.#stream === undefined) this.#stream = this.#buffer && !this.#used ? new Response(this.#buffer).body : null;
    return this.#stream;
  }

  isUsed(): boolean {
    return this.#used || (this.#stream?.locked ?? false);
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  override async text(): Promise<string> {
    return this.#take().toString("utf8");
  }

  override async json<T>(): Promise<T> {
    return JSON.parse(this.#take().toString("utf8")) as T;
  }

  #take(): Buffer {
    if (this.isUsed()) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
    return this.#buffer ?? Buffer.alloc(0);
  }
}

// Response declares body and bodyUsed as properties, which TypeScript lets no subclass redefine
// as accessors; at run time they are accessors on Response.prototype, overridden here.
Object.defineProperties(BufferedResponse.prototype, {
  body: { get: BufferedResponse.prototype.lazyBody, configurable: true },
  bodyUsed: { get: BufferedResponse.prototype.isUsed, configurable: true },
});

/**
 * Upstream calls over node:http(s) with keep-alive agents rather than the global fetch: the
 * same contract (a WHATWG Response; `init.signal` aborts the call and its body, with the
 * signal's reason), but a fraction of fetch's per-call allocations, which were most of what the
 * gateway spent on a short completion. Event streams stay streamed; other bodies are read whole,
 * as their callers parse them whole anyway. Idle sockets close after 4 s, before the usual 5 s
 * server keep-alive, so a request is not written to a socket the server is closing.
 */
export function nodeFetch(): FetchLike {
  const agents: Record<string, http.Agent> = {
    "http:": new http.Agent({ keepAlive: true, timeout: 4_000 }),
    "https:": new https.Agent({ keepAlive: true, timeout: 4_000 }),
  };
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      let incoming: http.IncomingMessage | undefined;
      const onAbort = () => (incoming ?? request).destroy(signal!.reason as Error);
      const done = () => signal?.removeEventListener("abort", onAbort);
      const request = (target.protocol === "https:" ? https : http).request(
        target,
        { method: init.method, headers: init.headers as Record<string, string>, agent: agents[target.protocol] },
        (res) => {
          incoming = res;
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          const status = res.statusCode ?? 502;
          const meta = { status, statusText: res.statusMessage ?? "", headers };
          if (headers.get("content-type")?.startsWith("text/event-stream")) {
            res.once("close", done);
            return resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, meta));
          }
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.once("end", () => {
            done();
            const body = NULL_BODY_STATUSES.has(status) ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
            resolve(new BufferedResponse(body, meta));
          });
          res.once("error", (error) => (done(), reject(error)));
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      request.once("error", (error) => (done(), reject(error)));
      request.end(init.body as string | undefined);
    });
}
