// vdi: the VDI portal from scripts. Parses arguments, runs one command, prints a table or JSON.
import { parseArgs } from "node:util";
import { loadEnv } from "./env.ts";
import { CliError, connect, describeFailure } from "./portal.ts";
import { changeVm, createVm, listTemplates, listVms, type Output } from "./commands.ts";

const USAGE = `Usage: vdi <command> [options]

Commands:
  vms                              list VMs
  templates                        list templates
  create <name> [--template <slug|id>] [--cpus N] [--memory MiB]
  start <name|id>                  start a VM
  stop <name|id>                   shut a VM down (the guest is asked first)
  poweroff <name|id>               power a VM off at once
  delete <name|id>                 delete a VM

Options:
  --url <url>      portal URL (default: $VDI_URL)
  --token <token>  API token vdi_... (default: $VDI_TOKEN)
  --json           print JSON instead of a table
  -h, --help       this help

Create tokens in the portal under "API tokens". Exit status: 0 ok, 1 refused or failed, 2 bad usage.`;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) throw new CliError(`${flag} wants a whole number, not "${value}"`, 2);
  return Number(value);
}

async function run(argv: string[]): Promise<Output | null> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" }, token: { type: "string" }, json: { type: "boolean" },
        template: { type: "string" }, cpus: { type: "string" }, memory: { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, arg, ...extra] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return null;
  }
  if (!command) throw new CliError(USAGE, 2);
  const wantsArg = command === "create" || command === "start" || command === "stop" || command === "poweroff" || command === "delete";
  if (!["vms", "templates", "create", "start", "stop", "poweroff", "delete"].includes(command)) throw new CliError(`unknown command "${command}"\n\n${USAGE}`, 2);
  if (wantsArg && !arg) throw new CliError(`${command} needs a VM ${command === "create" ? "name" : "name or id"}`, 2);
  if (extra.length > 0 || (!wantsArg && arg)) throw new CliError(`unexpected argument "${extra[0] ?? arg}"`, 2);
  const cpus = positiveInt("--cpus", values.cpus);
  const memoryMiB = positiveInt("--memory", values.memory);

  const env = loadEnv();
  const url = values.url ?? env.url;
  const token = values.token ?? env.token;
  if (!url) throw new CliError("no portal URL: set VDI_URL or pass --url");
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new CliError(`the portal URL must start with http:// or https://, not "${url}"`);
  if (!token) throw new CliError("no API token: set VDI_TOKEN or pass --token (create one in the portal under API tokens)");
  if (!token.startsWith("vdi_")) throw new CliError("that is not an API token (they start with vdi_)");

  const portal = connect(url, token);
  try {
    switch (command) {
      case "vms": return await listVms(portal);
      case "templates": return await listTemplates(portal);
      case "create": return await createVm(portal, arg!, { template: values.template, cpus, memoryMiB });
      case "poweroff": return await changeVm(portal, "powerOff", arg!);
      default: return await changeVm(portal, command as "start" | "stop" | "delete", arg!);
    }
  } catch (err) {
    throw describeFailure(err, url);
  }
}

/** Runs the CLI; returns the exit status. Never prints a stack. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  try {
    const out = await run(argv);
    if (out) process.stdout.write(`${json ? JSON.stringify(out.json, null, 2) : out.text}\n`);
    return 0;
  } catch (err) {
    const e = err instanceof CliError ? err : describeFailure(err, "the portal");
    process.stderr.write(`vdi: ${e.message}\n`);
    return e.exitCode;
  }
}
