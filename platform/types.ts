/** One process as the platform sees it (from /proc on Linux, from `ps` elsewhere). */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** State letter(s); a leading Z (zombie) or X (dead) counts as gone. */
  state: string;
  /**
   * When the process started, as an opaque token that tells it from a later process with the same
   * pid: clock ticks since boot on Linux, `ps`'s `lstart` elsewhere.
   */
  start: string;
}

/** Whether a process listed in a table still runs. */
export function isLive(p: ProcessInfo): boolean {
  const s = p.state.charAt(0);
  return s !== 'Z' && s !== 'X';
}
