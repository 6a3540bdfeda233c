import { router } from "../../trpc.ts";
import { create } from "./create.ts";
import { list } from "./list.ts";
import { get } from "./get.ts";
import { start, stop, powerOff, reboot, pause, resume, save, remove } from "./change-state.ts";
import { changes } from "./changes.ts";
import { clone, resize, share } from "./lifecycle.ts";

export const vmRouter = router({ create, list, get, start, stop, powerOff, reboot, pause, resume, save, delete: remove, clone, resize, share, changes });
