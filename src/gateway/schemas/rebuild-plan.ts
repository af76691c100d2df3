// The rebuild plan's request and response schemas (GET /api/hosts/{id}/rebuild-plan, POST /api/hosts/{id}/rebuild).
import { Type, type Static } from '@sinclair/typebox';
import { refusalCodes } from '../../proxmox/rebuild-plan';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const RebuildPlanQuery = Type.Object(
  {
    migrate: Type.Optional(Type.Boolean({ description: "move the node's guests away first (migrateall)" })),
    migrate_target: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'the member to move them to (with migrate=true); default: the least loaded online member', examples: ['pve2'] })),
    allow_quorum_loss: Type.Optional(Type.Boolean({ description: 'go on although the cluster is without quorum while the node is down' })),
  },
  { additionalProperties: false },
);
export type RebuildPlanQuery = Static<typeof RebuildPlanQuery>;

export const RebuildBody = Type.Object(
  {
    migrate_guests: Type.Optional(Type.Boolean({ description: "move the node's guests away first (migrateall)" })),
    migrate_target: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'the member to move them to; default: the least loaded online member', examples: ['pve2'] })),
    allow_quorum_loss: Type.Optional(Type.Boolean({ description: 'go on although the cluster is without quorum while the node is down' })),
  },
  { additionalProperties: false, description: 'Optional: without a body a member of the cluster is rebuilt only when nothing refuses it' },
);
export type RebuildBody = Static<typeof RebuildBody>;

const MemberRef = Type.Object({ name: Type.String(), address: Type.String(), fingerprint: Type.String() });

export const RebuildPlanSchema = Type.Object(
  {
    configured: Type.Boolean({ description: 'false: no proxmox.api_token, the cluster is not read (a fresh-host rebuild)' }),
    message: Nullable(Type.String()),
    member: Type.Boolean({ description: "the host's name is in the cluster" }),
    cluster: Nullable(
      Type.Object({
        name: Nullable(Type.String()),
        quorate: Type.Boolean(),
        online: Type.Integer(),
        members: Type.Array(Type.Object({ name: Type.String(), nodeid: Type.Integer(), ip: Nullable(Type.String()), online: Type.Boolean(), votes: Type.Integer(), guests: Nullable(Type.Integer()) })),
      }),
    ),
    node: Nullable(Type.Object({ name: Type.String(), nodeid: Type.Integer(), online: Type.Boolean(), ip: Nullable(Type.String()) })),
    quorum_without: Nullable(Type.Object({ total_votes: Type.Integer(), online_votes: Type.Integer(), needed: Type.Integer(), quorate: Type.Boolean() }, { description: 'votequorum while the node is down but still listed' })),
    guests: Type.Array(Type.Object({ vmid: Type.Integer(), name: Type.String(), node: Type.String(), status: Type.String(), type: Type.String(), hastate: Nullable(Type.String()) })),
    ha_resources: Type.Array(Type.Object({ sid: Type.String(), state: Type.String(), node: Nullable(Type.String()) })),
    qdevice: Type.Boolean(),
    replication: Type.Array(Type.Object({ id: Type.String(), guest: Type.Integer(), source: Nullable(Type.String()), target: Type.String() })),
    via: Nullable(MemberRef),
    migrate_to: Nullable(Type.String()),
    allow_quorum_loss: Type.Boolean(),
    refusals: Type.Array(
      Type.Object({
        code: Type.Union(refusalCodes.map((c) => Type.Literal(c))),
        message: Type.String(),
        override: Type.Optional(Type.Union([Type.Literal('migrate'), Type.Literal('allow_quorum_loss')])),
      }),
    ),
    steps: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
    notes: Type.Array(Type.String()),
  },
  { description: 'What the rebuild will do and whether it may (read-only pre-flight)' },
);

/** 409 of POST /rebuild: the usual error body; `plan` when the plan refused the rebuild. */
export const RebuildRefusedSchema = Type.Object(
  {
    error: Type.Object({ code: Type.String({ examples: ['guests_on_node'] }), message: Type.String(), field: Type.Optional(Type.String()) }),
    plan: Type.Optional(RebuildPlanSchema),
  },
  { description: 'A refused rebuild: error.code is the first refusal (or rebuild_in_progress, host_busy, not_configured), plan.refusals lists them all' },
);
