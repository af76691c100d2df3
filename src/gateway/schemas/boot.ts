import { Type, type Static } from '@sinclair/typebox';

/** What the Proxmox installer POSTs to fetch its answer (proxmox.md §2.2); unknown fields are kept, not rejected. */
export const AnswerRequestBody = Type.Object(
  {
    network_interfaces: Type.Array(Type.Object({ link: Type.Optional(Type.String()), mac: Type.String({ maxLength: 64 }) }, { additionalProperties: true }), {
      minItems: 1,
      maxItems: 256,
    }),
    dmi: Type.Optional(Type.Object({ system: Type.Optional(Type.Object({ uuid: Type.Optional(Type.String()) }, { additionalProperties: true })) }, { additionalProperties: true })),
  },
  { additionalProperties: true },
);
export type AnswerRequestBody = Static<typeof AnswerRequestBody>;

/** The installer's post-installation webhook (proxmox.md §3): kebab-case keys, schema 1.0–1.2. */
export const InstalledBody = Type.Object(
  {
    fqdn: Type.Optional(Type.String()),
    'machine-id': Type.Optional(Type.String({ maxLength: 64 })),
    'ssh-public-host-keys': Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 16384 }))),
    'network-interfaces': Type.Optional(
      Type.Array(
        Type.Object(
          {
            mac: Type.Optional(Type.String()),
            address: Type.Optional(Type.String()),
            'is-management': Type.Optional(Type.Boolean()),
          },
          { additionalProperties: true },
        ),
      ),
    ),
    dmi: Type.Optional(Type.Object({ system: Type.Optional(Type.Object({ uuid: Type.Optional(Type.String()) }, { additionalProperties: true })) }, { additionalProperties: true })),
  },
  { additionalProperties: true },
);
export type InstalledBody = Static<typeof InstalledBody>;

export const PhoneHomeBody = Type.Object(
  {
    ip: Type.String({ minLength: 1, maxLength: 64 }),
    hardware_id: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type PhoneHomeBody = Static<typeof PhoneHomeBody>;

export const BootTokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 128 })) });
export type BootTokenQuery = Static<typeof BootTokenQuery>;
