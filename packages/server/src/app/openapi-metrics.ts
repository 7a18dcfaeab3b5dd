/** OpenAPI paths and schemas of metrics: Prometheus text and one sandbox's usage. */
import { error, json, ok, ref } from "./openapi-parts.js";

export const metricsSchemas = {
  SandboxMetrics: {
    type: "object",
    required: ["sandboxId", "state", "at", "resources"],
    description: "Read on the host; reading never wakes the sandbox. Fields are absent when not known now.",
    properties: {
      sandboxId: { type: "string" },
      state: { type: "string" },
      at: { type: "string", format: "date-time" },
      resources: ref("Resources"),
      cpuSeconds: { type: "number", description: "CPU time since its processes last started" },
      memoryBytes: { type: "integer", description: "host memory its cgroup holds (its processes and gVisor's)" },
      diskUsedBytes: { type: "integer" },
      diskTotalBytes: { type: "integer" },
    },
  },
};

export const metricsPaths = {
  "/metrics": {
    get: {
      summary: "Prometheus metrics (text format)",
      description: "Read with BURROW_METRICS_TOKEN as a bearer token, or with any API key.",
      security: [{ bearer: [] }, { apiKey: [] }],
      responses: {
        "200": { description: "Prometheus text exposition", content: { "text/plain": { schema: { type: "string" } } } },
        "401": error("unauthorized"),
      },
    },
  },
  "/v1/sandboxes/{id}/metrics": {
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", pattern: "^sb_[a-z2-7]{20}$" } }],
    get: {
      summary: "CPU, memory and disk the sandbox uses now (does not wake it)",
      responses: {
        "200": ok("Usage", ref("SandboxMetrics")),
        "404": { description: "sandbox_not_found", ...json(ref("Error")) },
      },
    },
  },
};
