// Test fault points, in one injected object. Production code names the step it reaches
// ("snapshot:after-memory"); only the object made from VDI_AGENT_FAULT="<kind>:<step>[:engine]"
// acts there: it SIGKILLs this agent, or the VM's engine, so a test can crash exactly at that step.
// Everywhere else the object is the inert one.

export interface FaultTarget {
  vmId: string;
  /** The VM's engine process, when one runs. */
  enginePid(): number | null;
}

export interface FaultPoints {
  /** The operation has reached `point` ("<kind>:<step>") for this VM. */
  hit(point: string, target: FaultTarget): void;
}

export const NO_FAULTS: FaultPoints = { hit() {} };

export function faultPoints(spec: string | undefined, log: (msg: string) => void): FaultPoints {
  if (!spec) return NO_FAULTS;
  const engine = spec.endsWith(":engine");
  const point = engine ? spec.slice(0, -":engine".length) : spec;
  return {
    hit(at, target) {
      if (at !== point) return;
      if (engine) {
        const pid = target.enginePid();
        log(`fault injection: SIGKILL the engine of vm ${target.vmId} at ${at}`);
        if (pid) process.kill(pid, "SIGKILL");
      } else {
        log(`fault injection: SIGKILL this agent at ${at}`);
        process.kill(process.pid, "SIGKILL");
      }
    },
  };
}
