import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ContextStore } from "../src/templates/contexts.js";
import { imageSource } from "../src/templates/image-importer.js";

const dir = mkdtempSync(join(tmpdir(), "burrow-image-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const contexts = new ContextStore(dir);

describe("imageSource (FROM an image)", () => {
  it("takes registry references the server may pull", () => {
    expect(imageSource("docker.io/library/debian:12", contexts)).toEqual({
      transport: "docker",
      reference: "docker.io/library/debian:12",
    });
    expect(imageSource("docker://ghcr.io/acme/app:1", contexts)).toMatchObject({ reference: "ghcr.io/acme/app:1" });
  });

  it("refuses host paths and registries on the server's loopback, link-local or private networks", () => {
    for (const ref of [
      "oci-archive:/etc/passwd",
      "localhost:5000/x",
      "127.0.0.1:7070/v1/x",
      "docker://169.254.169.254/latest/meta-data",
      "10.1.2.3/app",
      "192.168.1.1:5000/app",
    ]) {
      expect(() => imageSource(ref, contexts), ref).toThrow(expect.objectContaining({ code: "validation_failed" }));
    }
  });
});
