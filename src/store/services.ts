/**
 * registerServices adds the client-facing services (Kv, Admin) of a store node to its gRPC
 * server; the node itself registers the Peer service. `strata node` passes it to
 * StoreNode.start.
 */
import type * as grpc from '@grpc/grpc-js';
import { ADMIN_SERVICE, adminImplementation } from './admin-service.js';
import { KV_SERVICE, KvService } from './kv-service.js';
import type { StoreNode } from './node.js';

/** registerServices registers Kv and Admin for `node` on `server`. */
export function registerServices(node: StoreNode, server: grpc.Server): void {
  server.addService(KV_SERVICE, new KvService(node).implementation());
  server.addService(ADMIN_SERVICE, adminImplementation(node));
}
