// The seat's credential in the kiosk's browser (docs/seating.md, "Seat authentication"): the
// enrollment link's secret is traded once for an httpOnly, SameSite=Strict cookie, so no script of
// the page (nor an extension reading storage) can read it, and it never sits in the address bar
// or in localStorage. Every seat call then names only the seat; its secret comes from the cookie.
import { AppError } from "../../errors.ts";
import { checkSeat } from "./seats.ts";
import type { Db } from "@vdi/db";

/** How long a seat's browser keeps its credential (revoking the seat ends it at once anyway). */
const SEAT_COOKIE_MAX_AGE_S = 400 * 24 * 3600;

export const seatCookieName = (seatId: string) => `vdi_seat_${seatId}`;

/** The seat's secret from the request's cookies; null when this browser has none for the seat. */
export function seatSecretFrom(headers: Headers, seatId: string): string | null {
  const name = seatCookieName(seatId);
  for (const part of (headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/** The seat call's input with its secret: the one given, else the cookie's; a browser with neither is told what to do. */
export function withSeatSecret<T extends { seatId: string; secret?: string | undefined }>(headers: Headers, input: T): T & { secret: string } {
  const secret = input.secret ?? seatSecretFrom(headers, input.seatId);
  if (!secret) throw new AppError("UNAUTHENTICATED", { message: "This browser is not a seat yet: open the seat link your administrator gave you" });
  return { ...input, secret };
}

/** The enrollment link's secret, checked, becomes the browser's seat cookie. */
export async function enrollSeat(db: Db, input: { seatId: string; secret: string }, headers: Headers, resHeaders: Headers) {
  const seat = await checkSeat(db, input);
  // Secure where the page came over HTTPS (the portal's public URL); a plain-HTTP lab install keeps it usable.
  const https = (headers.get("origin") ?? headers.get("referer") ?? "").startsWith("https:") || headers.get("x-forwarded-proto") === "https";
  resHeaders.append("set-cookie", `${seatCookieName(seat.id)}=${encodeURIComponent(input.secret)}; Path=/; Max-Age=${SEAT_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict${https ? "; Secure" : ""}`);
  return { seatId: seat.id, enrolled: true };
}
