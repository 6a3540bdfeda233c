// template.json of a guest image on this node: what to boot and how.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { engineNameSchema } from "@vdi/node-protocol";
import { EngineError } from "./engine.ts";

const file = z.string().regex(/^[\w.-]+$/);
export const imageManifestSchema = z.object({
  name: z.string().regex(/^[a-z0-9-]{1,64}$/),
  title: z.string().max(200),
  engine: engineNameSchema.default("qemu"),
  kernel: file,
  initrd: file.optional(),
  disk: file.optional(),
  cmdline: z.string().max(2000).optional(),
  /**
   * The guest's way out (docs/guest-network.md). Guests never reach the host's own addresses;
   * "nat": outbound connections elsewhere, through the node's egress namespace; "none": nothing.
   */
  egress: z.enum(["none", "nat"]).default("none"),
}).passthrough();
export type ImageManifest = z.infer<typeof imageManifestSchema> & { dir: string };

export function readManifest(imageDir: string, image: string): ImageManifest {
  const dir = join(imageDir, image);
  const path = join(dir, "template.json");
  if (!existsSync(path)) throw new EngineError(`The template image "${image}" is not on this node (${path} is missing)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new EngineError(`The template image "${image}" has an unreadable template.json`);
  }
  const parsed = imageManifestSchema.safeParse(json);
  if (!parsed.success) throw new EngineError(`The template image "${image}" has an invalid template.json`);
  return { ...parsed.data, dir };
}
