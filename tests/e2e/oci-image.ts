import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Makes a small OCI image archive (no registry, no network): bash, cat and their libraries copied
 * from the host, a passwd with root and `user`, `/hello/marker.txt`, env FOO=bar and workdir
 * /hello in its config. Returns the archive's path inside a fresh temporary directory.
 */
export function makeOciArchive(marker: string): { dir: string; archive: string } {
  const dir = mkdtempSync("/tmp/bt-oci-");
  const bundle = join(dir, "bundle");
  const layout = join(dir, "layout");
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  run("umoci", ["init", "--layout", layout]);
  run("umoci", ["new", "--image", `${layout}:v1`]);
  run("umoci", ["unpack", "--image", `${layout}:v1`, bundle]);
  const rootfs = join(bundle, "rootfs");
  for (const bin of ["/usr/bin/bash", "/usr/bin/cat", "/usr/bin/id", "/usr/bin/mkdir"]) {
    const target = join(rootfs, "bin", bin.split("/").at(-1) ?? "");
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(bin, target);
    const libs = execFileSync("ldd", [bin], { encoding: "utf8" }).match(/\/\S+\.so[.\d]*/g) ?? [];
    for (const lib of libs) {
      const into = join(rootfs, lib);
      mkdirSync(dirname(into), { recursive: true });
      copyFileSync(realpathSync(lib), into);
    }
  }
  symlinkSync("bash", join(rootfs, "bin/sh"));
  mkdirSync(join(rootfs, "etc"), { recursive: true });
  writeFileSync(
    join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/bash\n",
  );
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nuser:x:1000:\n");
  mkdirSync(join(rootfs, "home/user"), { recursive: true });
  execFileSync("chown", ["1000:1000", join(rootfs, "home/user")]);
  mkdirSync(join(rootfs, "root"), { recursive: true });
  mkdirSync(join(rootfs, "hello"), { recursive: true });
  writeFileSync(join(rootfs, "hello/marker.txt"), `${marker}\n`);
  run("umoci", ["repack", "--image", `${layout}:v1`, bundle]);
  run("umoci", ["config", "--image", `${layout}:v1`, "--config.env", "FOO=bar", "--config.workingdir", "/hello"]);
  const archive = join(dir, "image.tar");
  run("skopeo", ["copy", "--quiet", `oci:${layout}:v1`, `oci-archive:${archive}`]);
  readFileSync(archive); // fails loudly if skopeo wrote nothing
  return { dir, archive };
}
