import { router } from "../../trpc.ts";
import { create } from "./create.ts";
import { list } from "./list.ts";
import { get } from "./get.ts";
import { start, stop, reboot, pause, resume, remove } from "./change-state.ts";
import { changes } from "./changes.ts";

export const vmRouter = router({ create, list, get, start, stop, reboot, pause, resume, delete: remove, changes });
