// The capped body reader lives with the wire (the node reads the portal's answers with it too).
export { BodyTooLarge, readCapped } from "@vdi/node-protocol/read-capped";
