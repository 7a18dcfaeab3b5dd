// Notebook-style analysis in a code-interpreter sandbox: a DataFrame built in one cell is still
// loaded in the next, a chart comes back as a PNG, and the kernel's memory survives hibernation.
// Run: BURROW_API_URL=http://127.0.0.1:7070 BURROW_API_KEY=... node examples/code-interpreter.mjs
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox } from "@burrow/sdk";

const sandbox = await Sandbox.create({ template: "code-interpreter", lifecycle: { standbyAfterMs: 0 } });
console.log(`created ${sandbox.sandboxId}`);
try {
  // Cell 1: load data.
  await sandbox.runCode(`
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
sales = pd.DataFrame({"month": range(1, 13), "units": rng.integers(50, 150, 12)})
`);
  // Cell 2: the DataFrame from cell 1 is still there.
  const total = await sandbox.runCode("int(sales.units.sum())");
  console.log(`total units: ${total.text}`);

  // Cell 3: a chart.
  const chart = await sandbox.runCode(`
import matplotlib.pyplot as plt
plt.bar(sales.month, sales.units)
plt.title("units per month")
plt.show()
`);
  const png = chart.results.find((r) => r.png !== undefined)?.png;
  assert.ok(png, "no chart came back");
  const file = join(tmpdir(), `burrow-chart-${sandbox.sandboxId}.png`);
  await writeFile(file, Buffer.from(png, "base64"));
  console.log(`chart saved to ${file} (${Buffer.from(png, "base64").length} bytes)`);

  // A mistake is an ordinary result with the traceback.
  const oops = await sandbox.runCode("sales.no_such_column");
  console.log(`error: ${oops.error?.name}`);

  // Hibernate: the kernel's memory goes to disk; the next call restores it.
  const hibernated = await sandbox.hibernate();
  console.log(`state: ${hibernated.state}`);
  const again = await sandbox.runCode("int(sales.units.sum())");
  assert.equal(again.text, total.text);
  console.log(`after waking, total units: ${again.text}`);
  console.log("code-interpreter ok");
} finally {
  await sandbox.kill();
  console.log(`deleted ${sandbox.sandboxId}`);
}
