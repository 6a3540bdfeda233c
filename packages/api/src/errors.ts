// Typed domain errors. Services throw AppError; the tRPC layer maps codes in one table.
export const APP_ERROR_CODES = {
  UNAUTHENTICATED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  INVALID_INPUT: "BAD_REQUEST",
  CONFLICT: "CONFLICT",
  QUOTA_EXCEEDED: "FORBIDDEN",
  INVALID_STATE: "PRECONDITION_FAILED",
  NODE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  NO_CAPACITY: "SERVICE_UNAVAILABLE",
  RATE_LIMITED: "TOO_MANY_REQUESTS",
  INTERNAL: "INTERNAL_SERVER_ERROR",
} as const;

export type AppErrorCode = keyof typeof APP_ERROR_CODES;

export class AppError extends Error {
  readonly code: AppErrorCode;
  constructor(code: AppErrorCode, opts: { message: string; cause?: unknown }) {
    super(opts.message, { cause: opts.cause });
    this.name = "AppError";
    this.code = code;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError || (err instanceof Error && err.name === "AppError" && "code" in err);
}
