/**
 * registerServices adds the client-facing services (Kv, Admin) of a store node to its gRPC
 * server; the node itself registers the Peer service. `strata node` passes it to
 * StoreNode.start.
 */
import type * as grpc from '@grpc/grpc-js';
import { ADMIN_SERVICE, adminImplementation } from './admin-service.js';
import { KV_SERVICE, KvService } from './kv-service.js';
import { MetaService } from './meta.js';
import type { StoreNode } from './node.js';

/**
 * registerServices registers Kv and Admin for `node` on `server`, and starts the metadata
 * service (layout changes, the mover) that Admin.Change drives; it stops with the node.
 */
export function registerServices(node: StoreNode, server: grpc.Server): void {
  const meta = new MetaService(node);
  server.addService(KV_SERVICE, new KvService(node).implementation());
  server.addService(ADMIN_SERVICE, adminImplementation(node, meta));
  meta.start();
  node.stopHooks.push(() => meta.stop());
}
