// The wire between the portal and its nodes (docs/rooms.md). Both sides import it; nothing here
// reaches a database, a process or the network.
export * from "./operations.ts";
export * from "./vm-states.ts";
export * from "./vm-report.ts";
export * from "./desired-vm.ts";
export * from "./console-access.ts";
export * from "./contract.ts";
export * from "./engines.ts";
export * from "./nics.ts";
export * from "./console-protocols.ts";
