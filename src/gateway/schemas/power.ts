import { Type, type Static } from '@sinclair/typebox';
import { powerMethods } from '../../power/types';

const nullableString = (options: Parameters<typeof Type.String>[0]) => Type.Optional(Type.Union([Type.String(options), Type.Null()]));

/** A host's power settings as an operator sends them: one flat object, the fields of its method (src/gateway/power-input.ts checks which). */
export const PowerBody = Type.Object(
  {
    method: Type.Union(powerMethods.map((m) => Type.Literal(m)), { description: 'manual (default), wol, ipmi, redfish or proxmox' }),
    broadcast: nullableString({ maxLength: 64, description: 'wol: IPv4 broadcast address inside pxe.subnet; null or absent: the broadcast of pxe.subnet', examples: ['192.168.1.255'] }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'wol: UDP port of the magic packet (default 9); ipmi: RMCP+ port (default 623)' })),
    address: Type.Optional(Type.String({ maxLength: 253, description: 'ipmi: the BMC address', examples: ['192.168.1.210'] })),
    url: Type.Optional(Type.String({ maxLength: 2048, description: 'redfish: https:// URL of the BMC', examples: ['https://192.168.1.210'] })),
    username: Type.Optional(Type.String({ maxLength: 128, description: 'ipmi, redfish: the BMC user' })),
    password: Type.Optional(Type.String({ maxLength: 256, writeOnly: true, description: 'ipmi, redfish: the BMC password; write-only (never returned, `password_set` says whether one is stored), encrypted at rest; absent: keep the stored one' })),
    system_id: nullableString({ maxLength: 128, description: 'redfish: the ComputerSystem id; null or absent: the only one there is', examples: ['1', 'System.Embedded.1'] }),
    fingerprint: nullableString({ maxLength: 128, description: 'redfish: SHA-256 fingerprint of the BMC certificate (pinned)', examples: ['AB:CD:…'] }),
    ca_file: nullableString({ maxLength: 4096, description: 'redfish: absolute path of a PEM CA file that signed the BMC certificate (instead of a fingerprint)' }),
    node: nullableString({ maxLength: 63, description: 'proxmox: the node name in the cluster; null or absent: the hostname' }),
  },
  { additionalProperties: false, description: 'Power control of the host (issue 17)' },
);
export type PowerBody = Static<typeof PowerBody>;

/** A host's power settings as the API returns them: the fields of its method, never a password. */
export const PowerSettingsSchema = Type.Object(
  {
    method: Type.Union(powerMethods.map((m) => Type.Literal(m))),
    broadcast: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    port: Type.Optional(Type.Integer()),
    address: Type.Optional(Type.String()),
    url: Type.Optional(Type.String()),
    username: Type.Optional(Type.String()),
    password_set: Type.Optional(Type.Boolean({ description: 'ipmi, redfish: a BMC password is stored (it is never returned)' })),
    system_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    fingerprint: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    ca_file: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    node: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { description: 'The fields of the method; credentials are write-only' },
);

const powerState = Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('unknown')]);

export const PowerStatusSchema = Type.Object({
  method: Type.Union(powerMethods.map((m) => Type.Literal(m))),
  state: powerState,
  checked_at: Type.Union([Type.String(), Type.Null()], { description: 'when the BMC was asked; null for manual' }),
});

export const PowerActionBody = Type.Object(
  { action: Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('cycle'), Type.Literal('pxe-once')], { description: 'pxe-once only sets the one-time network boot' }) },
  { additionalProperties: false },
);
export type PowerActionBody = Static<typeof PowerActionBody>;

export const PowerOutcomeSchema = Type.Object({
  action: Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('cycle'), Type.Literal('pxe-once'), Type.Literal('test')]),
  method: Type.Union(powerMethods.map((m) => Type.Literal(m))),
  did: Type.String({ examples: ['Redfish: one-time PXE set, ForceRestart sent'] }),
  state: powerState,
  event_id: Type.Union([Type.Integer(), Type.Null()], { description: "the power event in the host's history" }),
});

export const UpdateHostBody = Type.Object({ power: Type.Optional(PowerBody) }, { additionalProperties: false });
export type UpdateHostBody = Static<typeof UpdateHostBody>;
