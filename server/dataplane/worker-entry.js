// Entry of the packet worker. A Worker does not inherit loader hooks registered with register()
// (as bin/*.js do), so register tsx here before loading the TypeScript; under `node --import tsx`
// registering again is harmless.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
