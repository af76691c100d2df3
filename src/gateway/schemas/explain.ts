// Schemas of GET /api/boot/explain and GET /api/hosts/{id}/preview (validation and the OpenAPI document).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { hostStates } from '../../domain/host-state-machine';

export const ExplainQuery = Type.Object(
  { mac: Type.String({ minLength: 1, maxLength: 64, description: 'the MAC in any accepted notation', examples: ['aa:bb:cc:dd:ee:03'] }) },
  { additionalProperties: false },
);
export type ExplainQuery = Static<typeof ExplainQuery>;

const HostState = Type.Union(hostStates.map((s) => Type.Literal(s)));
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const BootCheckSchema = Type.Object({
  check: Type.Union(['registered', 'rebuild', 'pxe_allowed', 'state', 'server_type', 'image'].map((c) => Type.Literal(c)), { description: 'what was checked' }),
  ok: Type.Boolean(),
  detail: Type.String({ examples: ['on the PXE allow-list since 2026-06-20T10:12:03.000Z for rebuild-3, pve-ms-03\'s own rebuild'] }),
});

export const ExplainSchema = Type.Object({
  mac: Type.String({ description: 'lower-case colon form' }),
  action: Type.Union([Type.Literal('install'), Type.Literal('local-disk')], { description: 'what GET /ipxe/{mac} would serve now' }),
  reason: Type.String({ description: 'why, in the words the boot endpoint logs and records', examples: ['no rebuild allows PXE for pve-ms-03 (state ready)'] }),
  host: Nullable(Type.Object({ id: Type.Integer(), hostname: Type.String(), state: HostState, server_type: Type.String() })),
  rebuild: Nullable(Type.Object({ operation_id: Type.Integer(), workflow_id: Type.String(), stage: Nullable(Type.String()) })),
  image: Nullable(Type.String({ description: 'the boot image it would get (install only)' })),
  chain: Type.Array(BootCheckSchema),
});

export const PreviewSchema = Type.Object({
  host: Type.Object({ id: Type.Integer(), hostname: Type.String(), mac: Type.String(), state: HostState, server_type: Type.String() }),
  image: Nullable(Type.String({ description: 'the boot image its server type picks' })),
  ipxe: Type.String({ description: 'iPXE script (the local-disk one when there is no image)' }),
  answer: Nullable(Type.String({ description: 'Proxmox answer file (TOML), secrets redacted; null when it cannot be built' })),
  first_boot: Type.String({ description: 'first-boot script (sh), its token redacted' }),
  valid: Type.Boolean({ description: 'no problems: the next rebuild would serve these' }),
  problems: Type.Array(
    Type.Object({
      part: Type.Union(['rebuild', 'image', 'ipxe', 'answer', 'first_boot'].map((p) => Type.Literal(p))),
      message: Type.String({ examples: ['global.fqdn: the hostname label must not be purely numeric'] }),
    }),
  ),
  redacted: Type.Array(Type.String(), { description: 'what was replaced by a placeholder' }),
  notes: Type.Array(Type.String()),
});
