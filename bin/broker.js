#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: migrates, builds the web app if needed, starts dtcps and the web app.
import { register } from "tsx/esm/api";

register();
await import("../server/launcher.ts");
