// The one place the node agent touches the native core.
export { probeKvm, rdpBridgePath, vmmPaths, type KvmProbe } from "@vdi/native";
export { nativeAddon, nativeAddonReason, type Addon, type ProcessExit } from "@vdi/native";
