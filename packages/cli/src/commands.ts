// The commands: each takes the portal client and its arguments and returns what to print.
import { CliError, codeOf, type Portal } from "./portal.ts";
import { renderTable } from "./table.ts";

export interface Output {
  /** For --json. */
  json: unknown;
  /** For people. */
  text: string;
}

const ID_RE = /^[a-z0-9]+$/;

/** The portal answers a page of VMs at a time; a page shorter than asked for is the last. */
const VM_PAGE = 500;

/** Every VM, page by page (or until `stop` says the one looked for has been seen). */
async function allVms(portal: Portal, stop?: (vm: { id: string; name: string }) => boolean) {
  const vms: Awaited<ReturnType<Portal["vm"]["list"]["query"]>> = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await portal.vm.list.query({ cursor, limit: VM_PAGE });
    vms.push(...page);
    if (page.length < VM_PAGE || (stop && page.some(stop))) return vms;
    cursor = page.at(-1)!.cursor;
  }
}

export async function listVms(portal: Portal): Promise<Output> {
  const vms = await allVms(portal);
  if (vms.length === 0) return { json: vms, text: "No VMs." };
  const rows = vms.map((v) => [v.name, v.state, String(v.cpus), `${v.memoryMiB} MiB`, v.template.slug, v.node.up ? v.node.name : `${v.node.name} (down)`, v.id]);
  return { json: vms, text: renderTable(["NAME", "STATE", "CPUS", "MEMORY", "TEMPLATE", "NODE", "ID"], rows) };
}

export async function listTemplates(portal: Portal): Promise<Output> {
  const templates = await portal.template.list.query();
  if (templates.length === 0) return { json: templates, text: "No templates." };
  const rows = templates.map((t) => [t.slug, t.title, t.engine, `${t.defaultCpus} (max ${t.maxCpus})`, `${t.defaultMemoryMiB} MiB (${t.minMemoryMiB}–${t.maxMemoryMiB})`, t.id]);
  return { json: templates, text: renderTable(["SLUG", "TITLE", "ENGINE", "CPUS", "MEMORY", "ID"], rows) };
}

/** A VM by name or id. Needs vm:read to look names up; without it the argument is taken as an id. */
async function findVm(portal: Portal, ref: string): Promise<{ id: string; name: string }> {
  let vms: { id: string; name: string }[];
  try {
    vms = await allVms(portal, (v) => v.id === ref || v.name === ref);
  } catch (err) {
    if (codeOf(err) === "FORBIDDEN" && ID_RE.test(ref)) return { id: ref, name: ref };
    throw err;
  }
  const vm = vms.find((v) => v.id === ref) ?? vms.find((v) => v.name === ref);
  if (!vm) throw new CliError(`no VM named "${ref}" or with that id (see: vdi vms)`);
  return vm;
}

async function findTemplateId(portal: Portal, ref: string | undefined): Promise<string> {
  let templates: { id: string; slug: string }[];
  try {
    templates = await portal.template.list.query();
  } catch (err) {
    if (codeOf(err) === "FORBIDDEN" && ref) return ref;
    throw err;
  }
  if (!ref) {
    const first = templates[0];
    if (!first) throw new CliError("no templates to create a VM from");
    return first.id;
  }
  const t = templates.find((x) => x.id === ref) ?? templates.find((x) => x.slug === ref);
  if (!t) throw new CliError(`no template "${ref}" (see: vdi templates)`);
  return t.id;
}

export async function createVm(portal: Portal, name: string, opts: { template?: string; cpus?: number; memoryMiB?: number }): Promise<Output> {
  const templateId = await findTemplateId(portal, opts.template);
  const r = await portal.vm.create.mutate({ name, templateId, ...(opts.cpus ? { cpus: opts.cpus } : {}), ...(opts.memoryMiB ? { memoryMiB: opts.memoryMiB } : {}) });
  return { json: { name, ...r }, text: `Creating ${name} (id ${r.vmId}, operation ${r.operationId})` };
}

const VERB = { start: "Starting", stop: "Shutting down", powerOff: "Powering off", delete: "Deleting" } as const;

export async function changeVm(portal: Portal, action: keyof typeof VERB, ref: string): Promise<Output> {
  const vm = await findVm(portal, ref);
  const r = await portal.vm[action].mutate({ vmId: vm.id });
  return { json: { vmId: vm.id, name: vm.name, ...r }, text: `${VERB[action]} ${vm.name} (operation ${r.operationId})` };
}
