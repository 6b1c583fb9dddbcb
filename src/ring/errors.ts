/**
 * Expected failures of src/ring, as typed classes with a stable `code` (mapped to gRPC status
 * codes at the edge). Callers switch on `code`, never on the message.
 */

/** RingError is the base of every expected failure raised by src/ring. */
export class RingError extends Error {
  /** code is stable across versions. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * RingConfigError says an argument of the ring or the placement is invalid; the message names
 * the bad value and the allowed range, so a wrong config file is fixed without reading code.
 */
export class RingConfigError extends RingError {
  constructor(message: string) {
    super('RING_CONFIG_INVALID', message);
  }
}

/**
 * ClusterLayoutError says a serialised cluster layout failed validation. `path` names the bad
 * field (`nodes[2].id`, `placement[7].replicas`) because layouts are long and written by hand.
 */
export class ClusterLayoutError extends RingError {
  /** path is the JSON path of the offending field, `$` for the document itself. */
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('CLUSTER_LAYOUT_INVALID', `${path}: ${message}`, options);
    this.path = path;
  }
}
