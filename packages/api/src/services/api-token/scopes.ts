// The one list of API token scopes, and which scope each procedure needs when called with a token.
// A procedure missing from the table cannot be called with a token at all (auth.*, apiToken.*,
// nodeAgent.*, and anything added later until someone decides its scope here).

export const API_TOKEN_SCOPES = ["vm:read", "vm:write", "console", "template:write"] as const;
export type ApiTokenScope = (typeof API_TOKEN_SCOPES)[number];

export const API_TOKEN_SCOPE_DESCRIPTIONS: Record<ApiTokenScope, string> = {
  "vm:read": "List and read VMs, templates, snapshots, operations and nodes; live updates",
  "vm:write": "Create, start, stop, reboot, pause, resume, save, resize, clone and delete VMs; snapshots",
  console: "Open VM consoles and see their screens",
  "template:write": "Make templates from VMs",
};

type ProcedureType = "query" | "mutation" | "subscription";

const READ: ProcedureType[] = ["query", "subscription"];
const WRITE: ProcedureType[] = ["mutation"];

/** path → [the procedure's type(s), the scope it needs]. The type is checked too: a read scope never covers a mutation. */
const PROCEDURE_SCOPES: Record<string, readonly [ProcedureType[], ApiTokenScope]> = {
  "vm.list": [READ, "vm:read"],
  "vm.get": [READ, "vm:read"],
  "vm.changes": [READ, "vm:read"],
  "template.list": [READ, "vm:read"],
  "node.list": [READ, "vm:read"],
  "operation.get": [READ, "vm:read"],
  "operation.list": [READ, "vm:read"],
  "operation.watch": [READ, "vm:read"],
  "snapshot.list": [READ, "vm:read"],

  "vm.create": [WRITE, "vm:write"],
  "vm.start": [WRITE, "vm:write"],
  "vm.stop": [WRITE, "vm:write"],
  "vm.powerOff": [WRITE, "vm:write"],
  "vm.reboot": [WRITE, "vm:write"],
  "vm.pause": [WRITE, "vm:write"],
  "vm.resume": [WRITE, "vm:write"],
  "vm.save": [WRITE, "vm:write"],
  "vm.delete": [WRITE, "vm:write"],
  "vm.clone": [WRITE, "vm:write"],
  "vm.resize": [WRITE, "vm:write"],
  "vm.share": [WRITE, "vm:write"],
  "snapshot.create": [WRITE, "vm:write"],
  "snapshot.restore": [WRITE, "vm:write"],
  "snapshot.delete": [WRITE, "vm:write"],
  "snapshot.clone": [WRITE, "vm:write"],

  "console.open": [WRITE, "console"],
  "template.fromVm": [WRITE, "template:write"],
};

/** The scope a token needs for this call, or null when no token may make it. */
export function requiredScope(path: string, type: ProcedureType): ApiTokenScope | null {
  const entry = Object.hasOwn(PROCEDURE_SCOPES, path) ? PROCEDURE_SCOPES[path] : undefined;
  return entry && entry[0].includes(type) ? entry[1] : null;
}

/** Scopes outside tRPC (the portal's thumbnail route): screens are console content. */
export const THUMBNAIL_SCOPE: ApiTokenScope = "console";

export function hasScope(scopes: readonly string[] | null, scope: ApiTokenScope): boolean {
  return scopes === null || scopes.includes(scope);
}
