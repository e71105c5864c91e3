import type { Context } from "hono";
import type { z } from "zod";
import { invalidRequest } from "../errors.ts";

/** Parses the JSON body and validates it, turning every problem into a 400 that names the field. */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalidRequest(`We could not parse the JSON body of your request: ${(error as Error).message}`, null, "invalid_json");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw invalidRequest("The request body must be a JSON object", null, "invalid_json");
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.map(String).join(".") || null;
  throw invalidRequest(`Invalid value for ${param ? `'${param}'` : "the request"}: ${issue.message}`, param, "invalid_value");
}
