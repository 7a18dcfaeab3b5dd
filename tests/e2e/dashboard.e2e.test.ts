import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const CHROMIUM = process.env.BURROW_CHROMIUM ?? "/usr/bin/chromium";
// scripts/dashboard-screenshots.sh sets this to docs/img: the run then saves the screenshots the docs show.
const SCREENSHOTS = process.env.BURROW_SCREENSHOTS;
const dashboardIndex = join(import.meta.dirname, "..", "..", "packages", "dashboard", "dist", "index.html");

/** Waits until `selector`'s text content matches `pattern`. */
async function waitForText(page: Page, selector: string, pattern: RegExp, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    ({ selector, source, flags }) => {
      const el = document.querySelector(selector);
      return el !== null && new RegExp(source, flags).test(el.textContent ?? "");
    },
    { selector, source: pattern.source, flags: pattern.flags },
    { timeout },
  );
}

// The dashboard in headless Chromium (Debian's, never a downloaded one) against the real server
// with real runsc: one page goes through sign-in, create, terminal, files, checkpoints with a
// diff, and hibernation seen live.
describe("dashboard in a browser", () => {
  let server: TestServer;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!existsSync(dashboardIndex)) throw new Error(`${dashboardIndex} missing: run scripts/setup.sh (it builds it)`);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/setup-host.sh (installs chromium)`);
    server = await startTestServer();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it("signs in, drives a sandbox and follows its state live", { timeout: 90_000 }, async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (err) => consoleErrors.push(`page error: ${err.message}`));
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    const shot = async (name: string) => {
      if (SCREENSHOTS !== undefined)
        await page.screenshot({ path: join(SCREENSHOTS, `dashboard-${name}.png`), fullPage: true });
    };

    // A wrong key is refused with a visible error (the browser logs the 401 itself; that is all it logs).
    await page.goto(server.url);
    // Keyboard first: Tab reaches the key field.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("api-key");
    await page.fill("#api-key", "burrow_0000000000000000000000000000000000000000000000000");
    await page.click("button[type=submit]");
    await waitForText(page, "[data-testid=sign-in-error]", /invalid API key/);
    await shot("sign-in");
    expect(
      consoleErrors.every((e) => /401/.test(e)),
      consoleErrors.join("\n"),
    ).toBe(true);
    consoleErrors.length = 0;

    // The right key: the table, with the event stream open.
    await page.fill("#api-key", server.apiKey);
    await page.click("button[type=submit]");
    await waitForText(page, "[data-testid=live]", /^live$/);
    expect(await page.evaluate(() => sessionStorage.getItem("burrow.apiKey"))).toBe(server.apiKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    // Create from the form; the new row is running.
    await page.click("details.create summary");
    await page.fill("details.create input[placeholder='team=a, env=dev']", "suite=dashboard");
    await page.click("details.create button[type=submit]");
    const row = page.locator("tr[data-sandbox]");
    await row.first().waitFor({ timeout: 30_000 });
    const id = (await row.first().getAttribute("data-sandbox")) as string;
    expect(id).toMatch(/^sb_/);
    await page.locator(`tr[data-sandbox="${id}"] [data-state=running]`).waitFor();
    expect(await row.first().textContent()).toContain("suite=dashboard");

    // The sandbox page: a terminal that runs what is typed.
    await page.click(`a[href="#/sandboxes/${id}"]`);
    await waitForText(page, "[data-testid=terminal-status]", /^connected$/);
    await page.click("[data-testid=terminal]");
    await page.keyboard.type("echo hel''lo\n");
    // The typed line shows `hel''lo`; only the command's output is `hello` alone on a line.
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll(".xterm-rows > div")).some((r) => r.textContent?.trim() === "hello"),
      undefined,
      { timeout: 30_000 },
    );

    // Upload a file and see it listed.
    await page.setInputFiles("[data-testid=upload]", {
      name: "notes.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("first version\n"),
    });
    await page.locator('[data-testid=entries] li[data-name="notes.txt"]').waitFor();

    // Two checkpoints with a change between; the diff lists the file and shows its text diff.
    await page.fill("input[aria-label='Checkpoint name']", "one");
    await page.click("text=Take checkpoint");
    await waitForText(page, ".notice", /checkpoint one taken/);
    await page.setInputFiles("[data-testid=upload]", {
      name: "notes.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("second version\n"),
    });
    await page.fill("input[aria-label='Checkpoint name']", "two");
    await page.click("text=Take checkpoint");
    await waitForText(page, ".notice", /checkpoint two taken/);
    const one = await page.getAttribute("li[data-name=one]", "data-checkpoint");
    const two = await page.getAttribute("li[data-name=two]", "data-checkpoint");
    expect(one).not.toBe(two);
    // "two" was taken on top of "one": the tree nests it.
    expect(await page.getAttribute("li[data-name=one] li[data-name=two]", "data-checkpoint")).toBe(two);
    await page.selectOption("select[name=from]", one as string);
    await page.selectOption("select[name=to]", two as string);
    await page.click("button:text-is('Diff')");
    const fileButton = page.locator("[data-testid=diff] button", { hasText: "notes.txt" });
    await fileButton.waitFor();
    expect(await page.locator("[data-testid=diff] li", { hasText: "notes.txt" }).textContent()).toContain("modified");
    await fileButton.click();
    await waitForText(page, "[data-testid=unified]", /\+second version/);
    await shot("sandbox");
    expect(await page.textContent("[data-testid=unified]")).toContain("-first version");

    // Hibernating from the sandbox page ends the terminal's stream; Reconnect wakes the sandbox
    // and opens a new terminal.
    await page.click(`button[aria-label="Hibernate ${id}"]`);
    await page.locator(".sandbox-page .bar [data-state=hibernated]").waitFor({ timeout: 30_000 });
    await page.click("button:text-is('Reconnect')", { timeout: 30_000 });
    await waitForText(page, "[data-testid=terminal-status]", /^connected$/);
    await page.click("[data-testid=terminal]");
    await page.keyboard.type("echo wo''ke\n");
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll(".xterm-rows > div")).some((r) => r.textContent?.trim() === "woke"),
      undefined,
      { timeout: 30_000 },
    );
    await page.locator(".sandbox-page .bar [data-state=running]").waitFor();

    // Back to the table (closing the terminal); hibernate from the UI, then watch a wake made
    // elsewhere (the API) arrive without any reload or click.
    await page.click("a:text-is('← Sandboxes')");
    const state = page.locator(`tr[data-sandbox="${id}"] [data-state]`);
    await page.click(`button[aria-label="Hibernate ${id}"]`);
    await page.locator(`tr[data-sandbox="${id}"] [data-state=hibernated]`).waitFor({ timeout: 30_000 });
    const navigations: string[] = [];
    page.on("framenavigated", (f) => navigations.push(f.url()));
    const woke = await server.request("POST", `/v1/sandboxes/${id}/resume`);
    expect(woke.status).toBe(200);
    await page.locator(`tr[data-sandbox="${id}"] [data-state=running]`).waitFor({ timeout: 30_000 });
    expect(await state.textContent()).toBe("running");
    expect(navigations).toEqual([]);
    await shot("sandboxes");

    // The same page fits a phone's width without horizontal scrolling of the page itself.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot("phone");

    // Delete asks first, then the row goes (from the stream's "deleted" event).
    await page.click(`button[aria-label="Delete ${id}"]`);
    await page.locator(`tr[data-sandbox="${id}"]`).waitFor({ state: "detached", timeout: 30_000 });
    expect(dialogs).toEqual([`Delete sandbox ${id} and all its files?`]);

    expect(consoleErrors).toEqual([]);
  });
});
