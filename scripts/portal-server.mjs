// Serves the built portal (apps/web) from a plain Node HTTP server that hands Next.js each request's
// socket address, which Next's route handlers cannot see: they get X-Forwarded-For, which Next fills
// only when the client left it out. The portal believes forwarded hops only from VDI_TRUSTED_PROXIES.
// Usage: node scripts/portal-server.mjs [--port 3000] [--hostname 0.0.0.0]; listens on
// VDI_LISTEN_HOST, default 127.0.0.1, when --hostname is not given.
import { createServer } from "node:http";
import { isIP } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const PEER_HEADER = "x-vdi-peer-address";
const web = join(dirname(fileURLToPath(import.meta.url)), "../apps/web");
// As `next start` does: the flag, else PORT. (Not HOSTNAME: shells and containers set it to the
// machine's name, which would move the listener off loopback and all interfaces.)
const { values } = parseArgs({ options: { port: { type: "string", default: process.env.PORT ?? "3000" }, hostname: { type: "string" } } });
const port = Number(values.port);
// Where it listens: the flag, else VDI_LISTEN_HOST, else loopback only. Reaching the portal from
// other machines is a decision (0.0.0.0, ::, or one interface's address), not a default. An address
// (or "localhost"), never a name that DNS might one day point elsewhere.
const host = values.hostname ?? (process.env.VDI_LISTEN_HOST || "127.0.0.1");
if (host !== "localhost" && !isIP(host)) {
  console.error(`portal: ${values.hostname === undefined ? "VDI_LISTEN_HOST" : "--hostname"} must be an IP address (127.0.0.1, 0.0.0.0, ::, an interface's address) or localhost, not ${JSON.stringify(host)}`);
  process.exit(1);
}

// Tells the portal (apps/web/src/env.ts) which header carries the socket address. Set here, in the
// only process that overwrites that header on every request, so a client can never supply it.
process.env.VDI_PEER_ADDRESS_HEADER = PEER_HEADER;
const next = createRequire(join(web, "package.json"))("next");
const app = next({ dev: false, dir: web, port, hostname: host });
await app.prepare();
const handle = app.getRequestHandler();

const server = createServer((req, res) => {
  req.headers[PEER_HEADER] = req.socket.remoteAddress ?? "";
  handle(req, res).catch((err) => {
    console.error(`portal: ${req.method} ${req.url?.split("?")[0]}: ${err?.stack ?? err}`);
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end("Internal error");
  });
});
server.listen(port, host, () => console.log(`portal listening on ${host}:${port}`));
// Open event streams (live VM lists) would hold close() forever: end them, and give up after 5 s.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
