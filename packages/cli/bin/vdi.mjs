#!/usr/bin/env node
// The vdi command: runs the TypeScript entry point through tsx (no build step).
import { tsImport } from "tsx/esm/api";

const { main } = await tsImport("../src/main.ts", import.meta.url);
process.exitCode = await main(process.argv.slice(2));
