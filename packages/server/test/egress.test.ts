import { createServer } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { emptyReply, questionName } from "../src/egress/dns-proxy.js";
import { CompiledEgress, parseEgressPolicy } from "../src/egress/policy.js";
import { clientHelloServerName } from "../src/egress/tls-proxy.js";

describe("egress policy", () => {
  it("normalises entries and names the bad one", () => {
    expect(parseEgressPolicy({ allow: ["Example.COM.", "*.svc.test", "203.0.113.7", "10.1.2.3/8"] })).toEqual({
      default: "allow",
      allow: ["example.com", "*.svc.test", "203.0.113.7/32", "10.1.2.3/8"],
      deny: [],
    });
    expect(() => parseEgressPolicy({ deny: ["ok.test", "10.0.0.0/33"] })).toThrow(/deny\[1\].*10\.0\.0\.0\/33/);
    expect(() => parseEgressPolicy({ allow: ["exa mple.com"] })).toThrow(/allow\[0\]/);
    expect(() => parseEgressPolicy({ allow: ["*.*"] })).toThrow(/allow\[0\]/);
    expect(() => parseEgressPolicy({ allow: ["300.1.1.1"] })).toThrow(/IPv4/);
  });

  it("lets deny win, matches wildcards on subdomains only, and checks literals as addresses", () => {
    const c = new CompiledEgress(
      parseEgressPolicy({
        default: "deny",
        allow: ["*.svc.test", "api.test", "198.18.0.0/16"],
        deny: ["bad.svc.test", "198.18.9.9"],
      }),
    );
    expect(c.allowsName("a.svc.test")).toBe(true);
    expect(c.allowsName("A.B.SVC.TEST.")).toBe(true);
    expect(c.allowsName("svc.test")).toBe(false);
    expect(c.allowsName("bad.svc.test")).toBe(false);
    expect(c.allowsName("api.test")).toBe(true);
    expect(c.allowsName("xapi.test")).toBe(false);
    expect(c.allowsName("198.18.1.1")).toBe(true);
    expect(c.allowsName("198.18.9.9")).toBe(false);
    expect(c.allowsName("8.8.8.8")).toBe(false);
    expect(c.allowsResolvedAddress("198.18.9.9")).toBe(false);
    expect(c.allowsResolvedAddress("8.8.8.8")).toBe(true);
    expect(c.cidrs("allow")).toEqual(["198.18.0.0/16"]);
    expect(c.cidrs("deny")).toEqual(["198.18.9.9/32"]);
    expect(new CompiledEgress(parseEgressPolicy({})).allowsName("anything.test")).toBe(true);
  });

  it("refuses private and internal addresses unless an allow CIDR covers them", () => {
    const open = new CompiledEgress(parseEgressPolicy({}));
    for (const ip of ["10.77.0.1", "172.16.5.5", "172.31.255.1", "192.168.1.10", "100.64.0.1", "100.127.1.1"]) {
      expect(open.allowsName(ip)).toBe(false);
      expect(open.allowsResolvedAddress(ip)).toBe(false);
    }
    for (const ip of ["172.32.0.1", "100.128.0.1", "198.18.1.1", "8.8.8.8"]) expect(open.allowsName(ip)).toBe(true);
    // An allowed name does not open a private address; an allow CIDR does.
    const byName = new CompiledEgress(parseEgressPolicy({ default: "deny", allow: ["intranet.test"] }));
    expect(byName.allowsName("intranet.test")).toBe(true);
    expect(byName.allowsResolvedAddress("10.77.0.1")).toBe(false);
    const byCidr = new CompiledEgress(parseEgressPolicy({ allow: ["10.77.0.0/24"], deny: ["10.77.0.9"] }));
    expect(byCidr.allowsName("10.77.0.1")).toBe(true);
    expect(byCidr.allowsResolvedAddress("10.77.0.1")).toBe(true);
    expect(byCidr.allowsResolvedAddress("10.77.0.9")).toBe(false);
    expect(byCidr.allowsResolvedAddress("10.78.0.1")).toBe(false);
  });
});

describe("egress proxy parsers", () => {
  it("reads a DNS question and answers NXDOMAIN for it", () => {
    const query = Buffer.concat([
      Buffer.from("abcd01000001000000000000", "hex"),
      Buffer.from("\x06denied\x04TEST\x00\x00\x01\x00\x01", "latin1"),
    ]);
    expect(questionName(query)).toBe("denied.test");
    expect(questionName(query.subarray(0, 10))).toBeUndefined();
    const reply = emptyReply(query, 3);
    expect(reply.readUInt16BE(0)).toBe(0xabcd);
    expect(reply[3] && reply[3] & 0x0f).toBe(3);
    expect(reply.readUInt16BE(6)).toBe(0);
    expect(questionName(reply)).toBe("denied.test");
  });

  it("reads the server name of a real ClientHello, and none from other bytes", async () => {
    const hello = await new Promise<Buffer>((resolve) => {
      const server = createServer((socket) => {
        socket.once("data", (d: Buffer) => {
          socket.destroy();
          server.close();
          resolve(d);
        });
      });
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port;
        tlsConnect({ host: "127.0.0.1", port, servername: "allowed.test" }).on("error", () => undefined);
      });
    });
    expect(clientHelloServerName(hello)).toBe("allowed.test");
    expect(clientHelloServerName(hello.subarray(0, 20))).toBeUndefined();
    expect(clientHelloServerName(Buffer.from("GET / HTTP/1.1\r\n\r\n"))).toBeNull();
  });
});
