import {
  BurrowError,
  type CreateSandboxRequest,
  ErrorCode,
  type KeepAliveRequest,
  parseTemplateRef,
  type UpdateSandboxRequest,
} from "@burrow/core";
import { z } from "zod";

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

const durationMs = z
  .number()
  .int()
  .min(0)
  .max(10 * 365 * 24 * 3_600_000);
const LifecycleSchema = z
  .object({
    standbyAfterMs: durationMs.optional(),
    hibernateAfterMs: durationMs.optional(),
    deleteAfterMs: durationMs.optional(),
    beforeHibernate: z
      .object({
        command: z.string().min(1).max(4096),
        timeoutMs: z.number().int().min(100).max(300_000).optional(),
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]{0,31}$/)
          .optional(),
      })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();
const MetadataSchema = z
  .record(z.string().min(1).max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 64, "at most 64 entries");

const ResourcesSchema = z
  .object({
    vcpus: z.number().min(0.1).max(64).optional(),
    memoryMb: z.number().int().min(128).max(262_144).optional(),
    pids: z.number().int().min(16).max(1_048_576).optional(),
    diskMb: z.number().int().min(64).max(4_194_304).optional(),
  })
  .strict();

export const UpdateSandboxSchema = z
  .object({
    lifecycle: LifecycleSchema.optional(),
    metadata: MetadataSchema.optional(),
    resources: ResourcesSchema.optional(),
  })
  .strict();

export const KeepAliveSchema = z.object({ durationMs: durationMs.min(1).optional() }).strict();

/** Secrets bound to a sandbox; names and hosts are checked by SecretService.parseBindings. */
export const SecretBindingsSchema = z.array(
  z
    .object({
      name: z.string().min(1).max(128),
      hosts: z.array(z.string().min(1).max(255)),
      allowHttp: z.boolean().optional(),
    })
    .strict(),
);

/** The shape of an egress policy; entries are checked one by one by parseEgressPolicy. */
export const EgressInputSchema = z
  .object({
    default: z.enum(["allow", "deny"]).optional(),
    allow: z.array(z.string().max(260)).max(256).optional(),
    deny: z.array(z.string().max(260)).max(256).optional(),
  })
  .strict();

/** Volume mounts; paths and names are checked by VolumeService.prepare. */
export const VolumeMountsSchema = z
  .array(
    z
      .object({ name: z.string().min(1).max(200), path: z.string().min(1).max(1024), readOnly: z.boolean().optional() })
      .strict(),
  )
  .max(16);

export const CreateSandboxSchema = z
  .object({
    template: z
      .string()
      .max(200)
      .refine(
        (t) => parseTemplateRef(t) !== undefined,
        "must be name[:tag]: the name lowercase letters, digits, '.', '_' or '-' (≤ 63); the tag also upper-case (≤ 128)",
      )
      .optional(),
    env: z
      .record(z.string().regex(envName, "must be a valid environment variable name"), z.string().max(32_768))
      .refine((e) => Object.keys(e).length <= 256, "at most 256 variables")
      .optional(),
    metadata: MetadataSchema.optional(),
    lifecycle: LifecycleSchema.optional(),
    network: z
      .object({ egress: EgressInputSchema.optional(), secrets: SecretBindingsSchema.optional() })
      .strict()
      .optional(),
    volumes: VolumeMountsSchema.optional(),
    resources: ResourcesSchema.optional(),
  })
  .strict();

/** Validates `body` against `schema`, or throws validation_failed naming the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ field: i.path.join(".") || "(body)", message: i.message }));
  const first = issues[0];
  throw new BurrowError(ErrorCode.ValidationFailed, `invalid request: ${first?.field}: ${first?.message}`, {
    details: { field: first?.field, issues },
  });
}

export function parseCreateSandbox(body: unknown): CreateSandboxRequest {
  return parseBody(CreateSandboxSchema, body) as CreateSandboxRequest;
}

export function parseUpdateSandbox(body: unknown): UpdateSandboxRequest {
  return parseBody(UpdateSandboxSchema, body) as UpdateSandboxRequest;
}

export function parseKeepAlive(body: unknown): KeepAliveRequest {
  return parseBody(KeepAliveSchema, body) as KeepAliveRequest;
}

/** Parses `?metadata=k1%3Dv1%26k2%3Dv2` (E2B style) into pairs. */
export function parseMetadataFilter(url: URL): Record<string, string> {
  const filter: Record<string, string> = {};
  for (const raw of url.searchParams.getAll("metadata")) {
    for (const [k, v] of new URLSearchParams(raw)) filter[k] = v;
  }
  return filter;
}
