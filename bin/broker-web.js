#!/usr/bin/env node
// The web app's process (started by bin/broker.js): Next.js plus the /api/live WebSocket relay to dtcps.
import { register } from "tsx/esm/api";

register();
await import("../server/web/serve.ts");
