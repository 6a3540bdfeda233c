import { connect } from "node:net";
import { writeFileSync } from "node:fs";
import { firstNonBlankFrame } from "./lib/rfb-probe.ts";
import { xrgbToPng } from "./lib/png.ts";
const s = connect(process.argv[2]!);
const f = await firstNonBlankFrame({ write: (b) => s.write(b), onData: (cb) => s.on("data", cb), close: () => s.destroy() }, 10000);
writeFileSync(process.argv[3]!, xrgbToPng(f.width, f.height, f.pixels));
console.log(f.width, f.height);
