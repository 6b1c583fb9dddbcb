/**
 * Typed failures of the Strata client, one class per kind a caller handles differently (the
 * nats.js habit): every one has a stable `code`, a `name`, an optional `limit` (the LIMITS name a
 * request exceeded) and the `cause` it was built from. `indeterminate` says whether a write may
 * still have been applied (its outcome is unknown): the client never applies a write twice, but
 * it cannot always tell whether it applied once.
 */

/** StrataErrorOptions are the optional parts of a StrataError. */
export interface StrataErrorOptions {
  cause?: unknown;
  /** limit names the LIMITS entry a request exceeded (kv-limits.ts). */
  limit?: string;
  /** indeterminate is true when the failed write may nevertheless have been applied. */
  indeterminate?: boolean;
}

/** StrataError is the base of every error the client throws on purpose. */
export class StrataError extends Error {
  /** code is stable (a server ErrorStatus code or a client code); switch on it, not the text. */
  readonly code: string;
  /** limit names the exceeded LIMITS entry, when there is one (absent otherwise). */
  declare readonly limit?: string;
  /**
   * indeterminate: a write that failed this way may have been applied (exactly once). Set
   * before the error is thrown (an error created at the call site learns it later).
   */
  indeterminate: boolean;
  constructor(code: string, message: string, options: StrataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.limit) this.limit = options.limit;
    this.indeterminate = options.indeterminate === true;
  }
}

/**
 * DeadlineExceededError says a call did not finish within its deadline. It is created when the
 * call starts (so its stack shows the caller) and thrown when the deadline passes; for a write,
 * `indeterminate` is true when an attempt may have reached a leader.
 */
export class DeadlineExceededError extends StrataError {
  constructor(message: string, options: StrataErrorOptions = {}) {
    super('DEADLINE_EXCEEDED', message, options);
  }
}

/** InvalidArgumentError says a request breaks a rule or a size limit; retrying cannot help. */
export class InvalidArgumentError extends StrataError {
  constructor(message: string, options: StrataErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'INVALID_ARGUMENT', message, options);
  }
}

/** ResourceExhaustedError says a request or its answer is too big, or a server queue is full. */
export class ResourceExhaustedError extends StrataError {
  constructor(message: string, options: StrataErrorOptions = {}) {
    super('RESOURCE_EXHAUSTED', message, options);
  }
}

/** UnavailableError says no node could serve the request (none reachable, no leader, ...). */
export class UnavailableError extends StrataError {
  constructor(message: string, options: StrataErrorOptions = {}) {
    super('UNAVAILABLE', message, options);
  }
}

/** AbortedError says the caller's AbortSignal fired; a write may be indeterminate. */
export class AbortedError extends StrataError {
  constructor(message: string, options: StrataErrorOptions = {}) {
    super('ABORTED', message, options);
  }
}

/**
 * SessionLostError says the server no longer knows the write's session (STALE_SEQ or
 * SESSION_EXPIRED) after the write was already sent once: it may have been applied, and a
 * resend under a new session could apply it twice, so the client gives up instead.
 */
export class SessionLostError extends StrataError {
  constructor(code: string, message: string, options: StrataErrorOptions = {}) {
    super(code, message, { ...options, indeterminate: true });
  }
}

/** ClosedError says the client was closed before or during the call. */
export class ClosedError extends StrataError {
  constructor(message = 'the Strata client is closed') {
    super('CLOSED', message);
  }
}

/** ServerErrorStatus is the part of a wire ErrorStatus an error is built from. */
export interface ServerErrorStatus {
  code: string;
  message: string;
  limit: string;
}

/**
 * errorFromStatus turns a server ErrorStatus the client will not retry into a typed error;
 * `where` names the operation for the message.
 */
export function errorFromStatus(
  status: ServerErrorStatus,
  where: string,
  indeterminate = false,
): StrataError {
  const message = `${where}: ${status.code}: ${status.message}`;
  const options = { limit: status.limit || undefined, indeterminate, cause: status };
  switch (status.code) {
    case 'INVALID_ARGUMENT':
    case 'MALFORMED':
    case 'WRONG_GROUP':
      return new InvalidArgumentError(message, { ...options, code: status.code });
    case 'RESOURCE_EXHAUSTED':
      return new ResourceExhaustedError(message, options);
    case 'UNAVAILABLE':
    case 'NOT_LEADER':
    case 'NOT_FOUND':
    case 'PROPOSAL_DROPPED':
    case 'STORAGE_FAILURE':
    case 'RESTORING':
      return new UnavailableError(message, options);
    case 'STALE_SEQ':
    case 'SESSION_EXPIRED':
      return new SessionLostError(status.code, message, options);
    default:
      return new StrataError(status.code || 'UNKNOWN', message, options);
  }
}
