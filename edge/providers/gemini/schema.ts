/**
 * Gemini's function parameters are an OpenAPI 3.0 Schema subset, not JSON Schema: unknown keys
 * such as `$schema` or `additionalProperties` fail the whole request with a 400. Keep what it
 * understands and translate the few JSON Schema idioms that have a Gemini equivalent.
 */

const KEPT = new Set([
  "type",
  "format",
  "title",
  "description",
  "nullable",
  "enum",
  "maxItems",
  "minItems",
  "minProperties",
  "maxProperties",
  "minLength",
  "maxLength",
  "pattern",
  "example",
  "default",
  "minimum",
  "maximum",
  "required",
  "propertyOrdering",
]);

/** Other formats (uri, email, ...) are rejected rather than ignored. */
const KNOWN_FORMATS = new Set(["enum", "date-time", "int32", "int64", "float", "double"]);

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

export function toGeminiSchema(schema: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (KEPT.has(key)) out[key] = value;
  }
  // JSON Schema's nullable union ["string","null"] becomes type + nullable.
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((t) => t !== "null");
    out.type = types[0] ?? "string";
    if (types.length < schema.type.length) out.nullable = true;
  }
  if (typeof out.format === "string" && !KNOWN_FORMATS.has(out.format)) delete out.format;
  if (schema.const !== undefined && out.enum === undefined) out.enum = [schema.const];
  if (isSchema(schema.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, sub]) => [name, isSchema(sub) ? toGeminiSchema(sub) : sub]),
    );
  }
  if (isSchema(schema.items)) out.items = toGeminiSchema(schema.items);
  const union = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(union)) out.anyOf = union.filter(isSchema).map(toGeminiSchema);
  return out;
}

/** A function without parameters must omit them: Gemini rejects an OBJECT with no properties. */
export function toGeminiParameters(parameters: Schema | undefined): Schema | undefined {
  if (!parameters) return undefined;
  const converted = toGeminiSchema(parameters);
  const properties = converted.properties;
  if (converted.type === "object" && (!isSchema(properties) || Object.keys(properties).length === 0)) return undefined;
  return converted;
}
