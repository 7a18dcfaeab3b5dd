export { verifyApiKey } from "./auth.js";
export { type DescribedError, describeError, formatError, toolError } from "./errors.js";
export {
  DEFAULT_HTTP_HOST,
  DEFAULT_SESSION_IDLE_TIMEOUT_MS,
  type HttpMcpServer,
  type HttpOptions,
  MAX_BODY_BYTES,
  MCP_HTTP_PATH,
  serveHttp,
} from "./http.js";
export { resolveSandboxPath, SANDBOX_HOME } from "./paths.js";
export { RESOURCE_URI_TEMPLATE, resourceUri } from "./resources.js";
export {
  type BurrowMcpOptions,
  createBurrowMcpServer,
  SERVER_NAME,
  SERVER_VERSION,
  TOOL_GROUPS,
  toolNames,
} from "./server.js";
export { type StdioOptions, serveStdio } from "./stdio.js";
export { type BurrowTool, defineTool, type ToolGroup, type ToolSpec } from "./tools/registry.js";
export { MAX_FILE_BYTES, MAX_FILE_CHARS, MAX_OUTPUT_CHARS } from "./truncate.js";
