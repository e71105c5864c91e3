import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

/**
 * A local stand-in for Langfuse's public ingestion API (POST /api/public/ingestion): checks Basic
 * auth with the project keys, validates each event envelope as the real server does, answers 207
 * with per-event successes, and keeps what arrived for the test to inspect.
 */
const envelope = z.object({
  id: z.string().min(1),
  type: z.enum(["trace-create", "generation-create", "generation-update", "span-create", "span-update", "event-create", "score-create", "sdk-log"]),
  timestamp: z.iso.datetime({ offset: true }),
  body: z.record(z.string(), z.unknown()),
  metadata: z.unknown().optional(),
});
const batchRequest = z.object({ batch: z.array(envelope), metadata: z.unknown().optional() });
export type IngestedEvent = z.infer<typeof envelope>;

export async function startLangfuseReceiver(publicKey: string, secretKey: string) {
  const events: IngestedEvent[] = [];
  const rejected: string[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => resolve(body));
    });
  const server = createServer(async (req, res) => {
    const body = await read(req);
    const expected = "Basic " + Buffer.from(`${publicKey}:${secretKey}`).toString("base64");
    if (req.headers.authorization !== expected) {
      rejected.push("auth");
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ message: "Invalid credentials" }));
      return;
    }
    if (req.method !== "POST" || req.url !== "/api/public/ingestion") {
      rejected.push(`${req.method} ${req.url}`);
      res.writeHead(404).end();
      return;
    }
    const parsed = batchRequest.safeParse(JSON.parse(body));
    if (!parsed.success) {
      rejected.push(parsed.error.message);
      res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ message: parsed.error.message }));
      return;
    }
    events.push(...parsed.data.batch);
    res.writeHead(207, { "content-type": "application/json" }).end(JSON.stringify({ successes: parsed.data.batch.map((e) => ({ id: e.id, status: 201 })), errors: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    events,
    rejected,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
