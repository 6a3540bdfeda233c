// Which Authorization header carries an API token: the one rule shared by the request context
// (which then ignores any cookie) and the portal's CSRF guard (which lets only such requests skip
// its cookie checks). Any other bearer leaves the cookie in charge, so it must not skip them.

const API_TOKEN_BEARER = /^Bearer\s+(vdi_\S*)$/i;

/** The API token an Authorization header presents, or null (no header, another kind of bearer). */
export function apiTokenBearer(authorization: string | null | undefined): string | null {
  return API_TOKEN_BEARER.exec(authorization?.trim() ?? "")?.[1] ?? null;
}
