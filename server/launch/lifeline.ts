// A child of the launcher (dtcps, the web app) must not outlive it: an orphan would keep the ports,
// the TUN and its sessions while a new broker starts beside it. The launcher gives each child one
// end of a pipe and keeps the other; the kernel closes the launcher's end however it dies, and the
// child then stops as on SIGTERM (its sessions ended and recorded).
import { Socket } from "node:net";

/** The variable naming the lifeline's descriptor in a child's environment. */
export const LIFELINE_ENV = "BROKER_LIFELINE_FD";

export function followLauncher(onLost: () => void = () => process.kill(process.pid, "SIGTERM")): void {
  const fd = Number(process.env[LIFELINE_ENV]);
  // Not for this process's own children (the `ip` helper, Next's workers).
  delete process.env[LIFELINE_ENV];
  if (!Number.isInteger(fd) || fd < 3) return;
  const line = new Socket({ fd, readable: true, writable: false });
  let lost = false;
  const gone = () => {
    if (lost) return;
    lost = true;
    process.stderr.write("the launcher is gone: stopping\n");
    onLost();
  };
  line.on("data", () => {});
  line.on("end", gone);
  line.on("close", gone);
  line.on("error", gone);
  line.unref();
}
