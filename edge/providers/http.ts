/** Small helpers shared by the adapters. */

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** Reads `{error:{message}}`, `{error:"..."}`, `{message}` or `[{error:{message}}]` (Gemini), else the raw text. */
export function readErrorMessage(status: number, bodyText: string): string {
  try {
    let parsed: unknown = JSON.parse(bodyText);
    if (Array.isArray(parsed)) parsed = parsed[0];
    if (parsed && typeof parsed === "object") {
      const obj = parsed as { error?: unknown; message?: unknown };
      if (typeof obj.error === "string") return obj.error;
      if (obj.error && typeof obj.error === "object" && typeof (obj.error as { message?: unknown }).message === "string") {
        return (obj.error as { message: string }).message;
      }
      if (typeof obj.message === "string") return obj.message;
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  const text = bodyText.trim().slice(0, 500);
  return text || `upstream returned HTTP ${status}`;
}
