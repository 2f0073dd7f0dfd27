/**
 * Retry behaviour is a type (ARCHITECTURE.md §10): a handler that throws a NonRetriableError has looked at
 * the input and will never accept it, so the runtime drops the record (with a clear log line, into
 * the dead-letter store) instead of redelivering it. Anything else is retried.
 */
export class NonRetriableError extends Error {
  override name = 'NonRetriableError';
}

/** The input did not satisfy its contract. */
export class InvalidInputError extends NonRetriableError {
  override name = 'InvalidInputError';
}

/** No agent is online to run a job; the wrapper retries and finally fails the attempt. */
export class NoAgentAvailableError extends Error {
  override name = 'NoAgentAvailableError';
}

/** A task token arrived for an attempt the job has moved past; the wrapper must not wait for it. */
export class StaleTaskError extends NonRetriableError {
  override name = 'StaleTaskError';
}

/**
 * A record the request asks for is larger than the store keeps (DynamoDB: 400 KB per item): the
 * request is refused with the reason, never retried.
 */
export class RecordTooLargeError extends NonRetriableError {
  override name = 'RecordTooLargeError';
}
