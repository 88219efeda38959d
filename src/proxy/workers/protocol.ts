/**
 * Messages between the primary (the one xDS client) and its worker processes, over the IPC
 * channel node:cluster sets up. Config travels as the decoded proto objects the primary already
 * accepted (plain JSON), never as compiled runtime objects: each worker compiles for itself.
 */
import type { ProtoMessage } from '../xds/resource-types/resource-type.ts';
import type { XdsUpdate } from '../xds/warming.ts';
import type { StatsSnapshot } from './stats-snapshot.ts';

export interface WireResource {
  readonly name: string;
  readonly version: string;
  readonly message: ProtoMessage;
}

export interface WireUpdate {
  readonly typeUrl: string;
  readonly added: readonly WireResource[];
  readonly updated: readonly WireResource[];
  readonly removed: readonly string[];
}

export interface WorkerInit {
  readonly node: { readonly id?: string; readonly metadata?: unknown };
  readonly metadata?: unknown;
  readonly listenerDrainMs?: number;
  readonly statsIntervalMs: number;
}

export type ToWorker =
  | { readonly t: 'init'; readonly init: WorkerInit }
  /** Updates in the order the primary applied them; `seq` is acknowledged with `applied`. */
  | { readonly t: 'config'; readonly seq: number; readonly updates: readonly WireUpdate[] }
  | { readonly t: 'drain'; readonly ms: number };

export type FromWorker =
  | { readonly t: 'ready' }
  | {
      readonly t: 'applied';
      readonly seq: number;
      /** Compile or apply failures: the primary accepted this config, so these are bugs. */
      readonly errors: readonly string[];
      readonly listeners: Readonly<Record<string, number>>;
    }
  | { readonly t: 'stats'; readonly snapshot: StatsSnapshot };

export function toWire(u: XdsUpdate): WireUpdate {
  const res = (r: XdsUpdate['added'][number]): WireResource => ({
    name: r.name,
    version: r.version,
    message: r.resource.message,
  });
  return {
    typeUrl: u.typeUrl,
    added: u.added.map(res),
    updated: u.updated.map(res),
    removed: [...u.removed],
  };
}
