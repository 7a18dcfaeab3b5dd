export * from "./command-runner.js";
export * from "./fake-runtime.js";
export * from "./gvisor-runtime.js";
export * from "./oci-spec.js";
export * from "./runtime.js";
export * from "./shim-runner.js";
export * from "./spawn-runner.js";
export * from "./text.js";
