import http from "node:http";
import https from "node:https";

/** The answer to a POST: its status, a header by (lower-case) name, and the whole body as text. */
export interface PostAnswer {
  status: number;
  header(name: string): string | null;
  text: string;
}

/**
 * POSTs `body` and reads the whole answer, on node:http(s)'s global agents (keep-alive).
 *
 * Not fetch: Node's fetch (undici) ties each request and response to WeakRefs and a
 * FinalizationRegistry, and V8's young-generation collector keeps what a WeakRef points to, so
 * each call's request, response and streams outlived every scavenge until a full collection:
 * 25 to 35 KB promoted to the old generation per call in a loop of calls to the simulator,
 * against about 1 KB with node:http. Scavenges copy what survives, so they took longer too.
 *
 * Rejects on a network failure, on `signal`, and on an answer cut off before its end.
 */
export async function postText(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<PostAnswer> {
  try {
    return await postOnce(url, headers, body, signal);
  } catch (error) {
    // A kept-alive socket the server closed while idle fails at once, before the server read the
    // request; Node's documentation advises sending it again (request.reusedSocket).
    if (!(error instanceof StaleSocket) || signal.aborted) throw error instanceof StaleSocket ? error.cause : error;
    return postOnce(url, headers, body, signal);
  }
}

class StaleSocket extends Error {}

function postOnce(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === "https:" ? https : target.protocol === "http:" ? http : undefined;
    if (!client) return reject(new Error(`cannot POST to ${target.protocol} URLs`));
    const options = { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, signal };
    let answered = false;
    const request = client.request(target, options, (response) => {
      answered = true;
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("error", reject);
      response.on("close", () => {
        if (!response.complete) reject(new Error("the connection closed before the answer was complete"));
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, header: (name) => first(response.headers[name]), text }));
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      const stale = request.reusedSocket && !answered && (error.code === "ECONNRESET" || error.code === "EPIPE");
      reject(stale ? new StaleSocket(error.message, { cause: error }) : error);
    });
    request.end(body);
  });
}

function first(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
