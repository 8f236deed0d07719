#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a checkout and a running client.
import { register } from "tsx/esm/api";

register();
await import("../server/client/dtcpc.ts");
