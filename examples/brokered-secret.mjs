// Credential brokering: the sandbox calls an API with a token it never holds. Burrow stores the
// token, the sandbox sees only `{{secret:API_TOKEN}}`, and the egress proxy swaps in the value
// for requests to the one host the secret is bound to.
// Run: API_TOKEN=… TARGET_URL=https://api.example.com/me node examples/brokered-secret.mjs
import assert from "node:assert/strict";
import { Sandbox, Secrets } from "@burrow/sdk";

const target = new URL(process.env.TARGET_URL ?? "https://api.github.com/user");
const token = process.env.API_TOKEN;
assert.ok(token, "set API_TOKEN to the token to broker");

await Secrets.set("API_TOKEN", token); // creates or replaces; the value never comes back out
const sandbox = await Sandbox.create({ secrets: [{ name: "API_TOKEN", hosts: [target.hostname] }] });
console.log(`created ${sandbox.sandboxId}, API_TOKEN bound to ${target.hostname}`);
try {
  const seen = await sandbox.commands.run('printf %s "$API_TOKEN"');
  assert.equal(seen.stdout, "{{secret:API_TOKEN}}");
  console.log(`inside the sandbox API_TOKEN is ${seen.stdout}`);

  // curl trusts the proxy's certificate for the bound host: the Burrow CA is in the sandbox's trust store.
  const call = await sandbox.commands.run(`curl -sS -m 20 -H "Authorization: Bearer $API_TOKEN" '${target.href}'`);
  console.log(`${target.hostname} answered: ${call.stdout.trim().slice(0, 200)}`);
  console.log("brokered-secret ok");
} finally {
  await sandbox.kill();
  await Secrets.delete("API_TOKEN");
  console.log(`deleted ${sandbox.sandboxId} and the secret`);
}
