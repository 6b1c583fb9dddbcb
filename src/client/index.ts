/**
 * Public surface of src/client: StrataClient, its option and result types, and its typed
 * errors; the stream-task layer (StreamTaskRuntime, the StreamTask API, TaskClient, task
 * errors, DedupFilter for output consumers). Everything else in src/client is internal.
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
export type { ClusterInfo, GroupStatus, NodeStatus, ReplicaProgress } from '../store/admin-codec.js';
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
export { SCAN_PAGES_MAX, TaskClient, type ReadOptions, type ScanSelection } from './task-client.js';
export {
  formatTaskStatus,
  gatherTaskStatus,
  kafkaHighWatermarks,
  type TaskStatusRow,
} from './task-status.js';
export {
  CheckpointTooLargeError,
  FencedError,
  TaskProcessError,
  TaskProtocolError,
} from './task-errors.js';
export {
  CHECKPOINT_DEFAULTS,
  TaskInstance,
  type CheckpointInfo,
  type InstanceState,
  type TaskInstanceStatus,
  type TaskStore,
} from './task-instance.js';
export { DEDUP_HEADER } from './task-keys.js';
export type { OutputSink, PublishRecord } from './task-relay.js';
export {
  StreamTaskRuntime,
  taskIdOf,
  type RuntimeHooks,
  type StreamTaskRuntimeOptions,
} from './task-runtime.js';
export type {
  CheckpointOptions,
  InputRecord,
  OnProcessError,
  OutputRecord,
  StateEntry,
  StateRangeOptions,
  StreamTask,
  TaskContext,
  TaskFailpoint,
  TaskState,
} from './task-types.js';
export { DedupFilter, parseRecordId, recordIdOf, type RecordId } from './stream-dedup.js';
export type { TaskMeta, TaskOffset, CheckpointStats } from '../store/kv-types.js';
