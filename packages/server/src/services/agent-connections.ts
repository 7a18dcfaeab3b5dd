import { Agent } from "node:http";
import type { Duplex } from "node:stream";

/**
 * Keep-alive connections to sandbox agents and services, one pool per sandbox address. A pool is
 * dropped whenever its sandbox stops, is checkpointed or restored (the restored netstack knows
 * none of the old connections), or is deleted (its address goes to the next sandbox). One object,
 * owned by the composition root, shared by the agent client and the request forwarders.
 */
export class AgentConnections {
  private readonly pools = new Map<string, Agent>();
  private readonly adopted = new Map<string, Set<Duplex>>();

  get(host: string): Agent {
    let agent = this.pools.get(host);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxFreeSockets: 4, keepAliveMsecs: 10_000 });
      this.pools.set(host, agent);
    }
    return agent;
  }

  /** A connection taken out of the pool (an upgraded one) that must still close with it. */
  adopt(host: string, socket: Duplex): void {
    let set = this.adopted.get(host);
    if (!set) {
      set = new Set();
      this.adopted.set(host, set);
    }
    set.add(socket);
    socket.once("close", () => set.delete(socket));
  }

  reset(host: string): void {
    this.pools.get(host)?.destroy();
    this.pools.delete(host);
    for (const socket of this.adopted.get(host) ?? []) socket.destroy();
    this.adopted.delete(host);
  }

  /** Closes every connection (server stop). */
  close(): void {
    for (const host of [...this.pools.keys(), ...this.adopted.keys()]) this.reset(host);
  }
}
