import { request } from "node:http";

/**
 * Opens an HTTP upgrade (`Upgrade: echo`) to `url` with `headers`, writes `message` on the
 * upgraded socket and resolves with the first data it gets back. Rejects when the server answers
 * without upgrading (status in the message) or the request fails.
 */
export function upgradeEcho(url: string, headers: Record<string, string>, message: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = request(url, { headers: { ...headers, Connection: "Upgrade", Upgrade: "echo" } });
    req.on("upgrade", (upRes, socket) => {
      if (upRes.statusCode !== 101) {
        socket.destroy();
        reject(new Error(`upgrade answered ${upRes.statusCode}`));
        return;
      }
      socket.once("data", (d: Buffer) => {
        socket.destroy();
        resolve(d.toString());
      });
      socket.write(message);
    });
    req.on("response", (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
    req.on("error", reject);
    req.end();
  });
}
