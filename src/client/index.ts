/**
 * Public surface of src/client: StrataClient, its option and result types, and its typed
 * errors. Everything else in src/client is internal.
 */
export {
  DEADLINE_MS_DEFAULT,
  StrataClient,
  type CallOptions,
  type ConnectOptions,
  type DeleteOptions,
  type DeleteResult,
  type GetOptions,
  type PutOptions,
  type PutResult,
  type RangeOptions,
  type RangeResult,
  type TxnOptions,
  type TxnResult,
} from './client.js';
export {
  AbortedError,
  ClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  ResourceExhaustedError,
  SessionLostError,
  StrataError,
  UnavailableError,
} from './errors.js';
export type { ClusterInfo, GroupStatus, NodeStatus, ReplicaProgress } from './admin-codec.js';
export type { BackoffOptions } from './backoff.js';
export type { Key } from './keys.js';
export { LANE_MAX_DEFAULT } from './lanes.js';
export type {
  CompareOperator,
  Consistency,
  SelectionOptions,
  TxnCompare,
  TxnOp,
} from './requests.js';
export type { KeyValue, ResponseOp } from '../store/kv-types.js';
