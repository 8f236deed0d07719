import assert from "node:assert/strict";
import { test } from "node:test";
import { resolvePaths } from "./config.ts";

test("the API key sits in the data directory unless BROKER_API_KEY_FILE names another file", () => {
  assert.equal(resolvePaths({ BROKER_DATA_DIR: "/var/lib/dtcp" } as NodeJS.ProcessEnv).apiKeyFile, "/var/lib/dtcp/api.key");
  assert.equal(resolvePaths({ BROKER_DATA_DIR: "/var/lib/dtcp", BROKER_API_KEY_FILE: "/etc/dtcp/api.key" } as NodeJS.ProcessEnv).apiKeyFile, "/etc/dtcp/api.key");
});
