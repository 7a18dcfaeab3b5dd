import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureTmpDir } from "../src/sandbox-rootfs.js";
import { caLayer, SANDBOX_CA_BUNDLE_PATH } from "../src/trust-store.js";
import { tempDirsPerTest } from "./temp-dirs.js";

const tempDir = tempDirsPerTest("burrow-links-");

// Host-side steps of sandbox setup that touch paths a layer could hold as links.
describe("links in layers are not followed on the host", () => {
  it("a rootfs whose tmp is a symlink to a host directory gets a real tmp directory instead", async () => {
    const rootfs = tempDir();
    const host = tempDir();
    writeFileSync(join(host, "keep"), "host file\n");
    symlinkSync(host, join(rootfs, "tmp"));
    await ensureTmpDir(rootfs);
    const st = lstatSync(join(rootfs, "tmp"));
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o1777);
    expect(readFileSync(join(host, "keep"), "utf8")).toBe("host file\n");
    // An existing directory is kept as it is.
    writeFileSync(join(rootfs, "tmp", "mine"), "x");
    await ensureTmpDir(rootfs);
    expect(existsSync(join(rootfs, "tmp", "mine"))).toBe(true);
  });

  it("the CA layer does not take a template bundle that is reached through a link", async () => {
    const template = tempDir();
    const host = tempDir();
    writeFileSync(join(host, "ca-certificates.crt"), "HOST BUNDLE\n");
    mkdirSync(join(template, "etc", "ssl"), { recursive: true });
    symlinkSync(host, join(template, "etc", "ssl", "certs"));
    const layer = await caLayer(tempDir(), [template], "PEM");
    expect(existsSync(join(layer, SANDBOX_CA_BUNDLE_PATH))).toBe(false);

    const plain = tempDir();
    mkdirSync(join(plain, "etc", "ssl", "certs"), { recursive: true });
    writeFileSync(join(plain, SANDBOX_CA_BUNDLE_PATH), "TEMPLATE BUNDLE\n");
    const ok = await caLayer(tempDir(), [plain], "PEM");
    expect(readFileSync(join(ok, SANDBOX_CA_BUNDLE_PATH), "utf8")).toBe("TEMPLATE BUNDLE\nPEM\n");
  });
});
