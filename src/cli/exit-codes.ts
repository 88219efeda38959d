/**
 * mizzenctl's exit codes, one place. They follow istioctl (64 usage, 79 analysis found
 * issues) and sysexits.h for the rest, so CI scripts can tell "your config has problems"
 * from "the command could not run".
 */
export const ExitCode = {
  /** Success; for analyze: no message at or above --failure-threshold. */
  OK: 0,
  /** Unexpected failure (a bug, or an I/O error that is not about the inputs). */
  INTERNAL: 1,
  /** Bad command line: unknown command or option, invalid option value, missing argument (EX_USAGE). */
  USAGE: 64,
  /** An input path does not exist or cannot be read (EX_NOINPUT). */
  UNREADABLE_INPUT: 66,
  /** analyze: some message reached --failure-threshold (istioctl's code). */
  ANALYZER_FOUND_ISSUES: 79,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
