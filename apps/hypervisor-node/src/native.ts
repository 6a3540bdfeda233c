// The one place the node agent touches the native core.
export { probeKvm, type KvmProbe } from "@vdi/native";
