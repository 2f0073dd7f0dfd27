/**
 * The job's wrapper: the tiny POSIX `sh` program every job runs under, which records the job's
 * exit status in the exit journal itself, so the status survives whoever started the job.
 */
import { EXIT_FILE_ENV, EXIT_KEY_ENV } from './job-spec.js';

/**
 * The wrapper's exit status when it found its claim taken back (its `lost` journal line says so):
 * it ran nothing.
 */
export const LOST_CLAIM_EXIT = 254;

/**
 * The job's wrapper, run by `/bin/sh` (any POSIX sh: dash, bash, ash) as the job's process-group
 * leader: `sh -c WRAPPER rsqlo-job <cgroup or ''> <log file> <command> <args…>`. It
 *
 * 1. moves itself into the job's cgroup (before the job exists, so nothing the job starts can be
 *    outside it); a failure is said in the log and the job runs contained by its process group;
 * 2. appends `<key>\tstarted` to the exit journal, then checks that its stdout is still the
 *    attempt's log file (where `/dev/fd/1` shows the file it is: Linux, macOS). A claim (the log, made by the runner before the fork) whose runner died
 *    before starting it is taken back by recovery, which renames the log away first and only then
 *    looks for `started` (`reclaimAbandonedAttempt`, exit-journal.ts): a wrapper that comes too late finds
 *    its log renamed, appends `<key>\tlost` and exits {@link LOST_CLAIM_EXIT} without running
 *    the job. Either the job runs under the first claim, or recovery sees it started;
 * 3. runs the job as its child, in the foreground. HUP/INT/TERM are *caught* (not ignored: the
 *    job gets them with their default action), so a kill of the group ends the job and the
 *    wrapper lives on to record it;
 * 4. appends the job's exit status to the exit journal — `<key>\t<code>`, or `<key>\tsignal:SIG…`
 *    when the job died of a terminating signal (128+n, told apart from `exit 128+n` as shells
 *    do) — and ends the same way (same code, or re-raising the signal), so whoever waits for the
 *    wrapper sees the job's own status.
 *
 * Only builtins run (a `kill -l` subshell only after a death by signal): the cost is one exec of
 * a small shell per job.
 */
const WRAPPER = [
  'c=$1 l=$2; shift 2',
  `if [ -n "$c" ]; then { echo $$ > "$c/cgroup.procs"; } 2>/dev/null || echo "rsqlo: could not move the job into its cgroup $c; it is contained by its process group only" >&2; fi`,
  `printf '%s\tstarted\n' "$${EXIT_KEY_ENV}" >> "$${EXIT_FILE_ENV}"`,
  `if [ -f /dev/fd/1 ] && ! [ "$l" -ef /dev/fd/1 ]; then printf '%s\tlost\n' "$${EXIT_KEY_ENV}" >> "$${EXIT_FILE_ENV}"; exit ${LOST_CLAIM_EXIT}; fi`,
  'trap : HUP INT TERM',
  '"$@"',
  's=$?',
  'n=',
  'if [ "$s" -gt 128 ]; then n=$(kill -l "$s" 2>/dev/null); fi',
  'case $n in HUP|INT|KILL|USR1|USR2|PIPE|ALRM|TERM)',
  `  printf '%s\tsignal:SIG%s\n' "$${EXIT_KEY_ENV}" "$n" >> "$${EXIT_FILE_ENV}"`,
  '  [ "$n" = KILL ] || trap - "$n"',
  '  kill -s "$n" $$ ;;',
  'esac',
  `printf '%s\t%s\n' "$${EXIT_KEY_ENV}" "$s" >> "$${EXIT_FILE_ENV}"`,
  'exit "$s"',
].join('\n');

/** The shell that runs {@link WRAPPER}: POSIX requires one at /bin/sh. */
export const WRAPPER_SHELL = '/bin/sh';

/**
 * How a job's command is started under its wrapper: the program and argv to spawn (its stdout
 * and stderr must be the log file `logFile`, its environment the job's; see {@link startJob}).
 */
export function wrapperInvocation(
  cgroup: string | undefined,
  logFile: string,
  command: string,
  args: string[],
): { file: string; args: string[] } {
  return { file: WRAPPER_SHELL, args: ['-c', WRAPPER, 'rsqlo-job', cgroup ?? '', logFile, command, ...args] };
}
