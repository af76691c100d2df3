import { Type, type Static } from '@sinclair/typebox';
import { hostStates } from '../../domain/host-state-machine';
import { PowerBody, PowerSettingsSchema } from './power';

export const HostIdParams = Type.Object({ id: Type.Integer({ minimum: 1, description: 'host id' }) });
export type HostIdParams = Static<typeof HostIdParams>;

export const CreateHostBody = Type.Object(
  {
    hostname: Type.String({ minLength: 1, maxLength: 253, examples: ['pve-ms-03'] }),
    mac: Type.String({ minLength: 1, maxLength: 64, examples: ['aa:bb:cc:dd:ee:ff'] }),
    server_type: Type.String({ minLength: 1, maxLength: 63, examples: ['minisforum-ms-01'] }),
    power: Type.Optional(PowerBody),
  },
  { additionalProperties: false },
);
export type CreateHostBody = Static<typeof CreateHostBody>;

export const OperationSchema = Type.Object(
  {
    id: Type.Integer(),
    kind: Type.Literal('rebuild'),
    workflow_id: Type.String(),
    run_id: Type.String(),
    status: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    stage: Type.Union([Type.String(), Type.Null()]),
    failure_reason: Type.Union([Type.String(), Type.Null()]),
    failure_message: Type.Union([Type.String(), Type.Null()]),
    started_at: Type.String(),
    finished_at: Type.Union([Type.String(), Type.Null()]),
  },
  {},
);

export const EventSchema = Type.Object(
  {
    id: Type.Integer(),
    at: Type.String(),
    kind: Type.String(),
    state: Type.Union([Type.String(), Type.Null()]),
    message: Type.String(),
  },
  {},
);

export const HostSchema = Type.Object(
  {
    id: Type.Integer(),
    hostname: Type.String(),
    mac: Type.String({ description: 'lower-case colon form' }),
    server_type: Type.String(),
    state: Type.Union(hostStates.map((s) => Type.Literal(s))),
    ip_address: Type.Union([Type.String(), Type.Null()]),
    hardware_id: Type.Union([Type.String(), Type.Null()]),
    machine_id: Type.Union([Type.String(), Type.Null()]),
    power: PowerSettingsSchema,
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  {},
);

export const HostDetailSchema = Type.Composite(
  [
    HostSchema,
    Type.Object({
      current_operation: Type.Union([
        Type.Composite([OperationSchema, Type.Object({ events: Type.Array(EventSchema) })]),
        Type.Null(),
      ]),
      operations: Type.Array(OperationSchema),
    }),
  ],
  {},
);

export const HostListSchema = Type.Object({ hosts: Type.Array(HostSchema) });

export const RebuildStartedSchema = Type.Object({
  operation_id: Type.Integer(),
  workflow_id: Type.String(),
  run_id: Type.String(),
});

export const ServerTypeSchema = Type.Object({
  key: Type.String(),
  display_name: Type.String(),
  boot_disk: Type.Array(Type.String()),
  management_nic: Type.String(),
  gpu: Type.Boolean(),
  hostname_prefix: Type.String(),
  filesystem: Type.String(),
  raid: Type.Union([Type.String(), Type.Null()]),
  image: Type.Union([Type.String(), Type.Null()]),
});
