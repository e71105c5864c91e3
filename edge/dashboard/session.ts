import type { Context } from "hono";
import { getSignedCookie, setSignedCookie } from "hono/cookie";
import { sameSecret } from "../auth/middleware.ts";

/*
 * Why a signed cookie: the dashboard is operational data, so it sits behind the master key like
 * /admin. A browser cannot attach `Authorization: Bearer` to a navigation, so the key is given once
 * as `?key=` and exchanged for a session cookie, and the page then redirects to itself without the
 * key so it leaves the address bar, history and Referer. The cookie holds no secret, only
 * "dashboard.<expiry>" signed with HMAC-SHA256 keyed by the master key (Hono's signed cookies, Web
 * Crypto, so the Worker verifies it the same way): nothing to store server-side (the Worker keeps
 * no state between requests), it expires on its own, cannot be replayed as a Bearer token on
 * /admin, and rotating the master key revokes every session. HttpOnly keeps it away from page
 * scripts; SameSite=Strict keeps other sites' links and forms from riding on it; Path=/dashboard
 * keeps it off every other route; Secure whenever the request came over HTTPS.
 */
const COOKIE = "godotz_dashboard";
const PURPOSE = "dashboard";
export const SESSION_SECONDS = 12 * 3600;

function bearer(c: Context): string | undefined {
  return c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

function overHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
}

export async function startSession(c: Context, masterKey: string, now = Date.now()): Promise<void> {
  const expires = Math.floor(now / 1000) + SESSION_SECONDS;
  await setSignedCookie(c, COOKIE, `${PURPOSE}.${expires}`, masterKey, {
    path: "/dashboard",
    httpOnly: true,
    sameSite: "Strict",
    secure: overHttps(c),
    maxAge: SESSION_SECONDS,
  });
}

/** A live session cookie, or the master key as a Bearer header (curl, scripts). */
export async function authorised(c: Context, masterKey: string, now = Date.now()): Promise<boolean> {
  const token = bearer(c);
  if (token !== undefined) return sameSecret(token, masterKey);
  const value = await getSignedCookie(c, masterKey, COOKIE);
  if (!value) return false;
  const expires = new RegExp(`^${PURPOSE}\\.(\\d{1,12})$`).exec(value)?.[1];
  return expires !== undefined && Number(expires) * 1000 > now;
}
