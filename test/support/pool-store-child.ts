/**
 * One of several processes racing on one state file's pools (test/e2e/pool-store-contention.test.ts).
 * Waits for the stdin line `go`, then does its part as fast as it can and prints one JSON line.
 * Usage: pool-store-child.ts <state file> <mode> <args…>
 *   acquire <me> <pools>   acquire one slot of each of pools p0…p<pools-1>, as holder <me>-<i>
 *   release <holders>      release holders h0…h<holders-1> of pool wlm, each with its PoolSlotFreed
 *   cycle <exec> <jobs> [pause]  for each job 1.<n> of run <exec>: park it waiting for pool wlm and
 *                          enqueue it (one unit, as the dispatcher), then grant it (another unit,
 *                          as the wake pass); prints `parked n` / `granted n` as it goes (to be
 *                          killed -9 in the middle); after parking job <pause>, it stops there
 */
import { createInterface } from 'node:readline';
import { EVENT_VERSION, eventIds } from '../../contracts/events.js';
import { jobRunName } from '../../contracts/jobs.js';
import { LocalStore } from '../../runtime/local/store.js';
import type { PoolHolder } from '../../services/ports.js';

const [file, mode, ...args] = process.argv.slice(2) as [string, string, ...string[]];
// A short busy timeout: a write that finds the lock taken tries again at once instead of sleeping
// in SQLite's growing busy backoff, so the two processes' writes really interleave.
const store = new LocalStore(file, { busyTimeoutMs: 1 });
const pools = store.pools();
const since = () => new Date().toISOString();
/**
 * A pause between two writes, as between two deliveries: without it one process re-takes the
 * write lock at once every time, the other's busy handler never finds it free, and nothing
 * interleaves.
 */
const breathe = () => new Promise((r) => setTimeout(r, 1));

async function acquire(me: string, n: number): Promise<unknown> {
  const acquired: number[] = [];
  for (let i = 0; i < n; i++) {
    const h: PoolHolder = {
      holder: `${me}-${i}`,
      workflowExecutionId: me,
      jobKey: '1.1',
      attempt: 1,
      since: since(),
    };
    if ((await pools.acquire(`p${i}`, h)) === 'acquired') acquired.push(i);
    await breathe();
  }
  return { acquired };
}

async function release(n: number): Promise<unknown> {
  let events = 0;
  store.onCommittedEvent((e) => {
    if (e['detail-type'] === 'PoolSlotFreed') events++;
  });
  const released: number[] = [];
  for (let i = 0; i < n; i++) {
    const holder = `h${i}`;
    const r = await pools.release('wlm', holder, {
      events: [
        {
          detailType: 'PoolSlotFreed',
          detail: {
            version: EVENT_VERSION,
            event_id: eventIds.poolSlotFreed('wlm', holder),
            occurred_at: since(),
            workflow_id: 'wf_race',
            workflow_execution_id: 'race-1',
            pool: 'wlm',
            job_key: '1.1',
            attempt: i + 1,
          },
        },
      ],
    });
    if (r === 'released') released.push(i);
    await breathe();
  }
  return { released, events };
}

async function cycle(exec: string, n: number, pauseAt: number): Promise<unknown> {
  const jobs = store.jobs();
  for (let j = 1; j <= n; j++) {
    const key = `1.${j}`;
    const h: PoolHolder = {
      holder: jobRunName(exec, key, 1),
      workflowExecutionId: exec,
      jobKey: key,
      attempt: 1,
      since: since(),
    };
    await store.unit(async () => {
      const parked = await jobs.transition({
        workflowExecutionId: exec,
        jobKey: key,
        expect: { attempt: 1, statuses: ['Queued'] },
        set: { waiting_for: 'pool:wlm' },
      });
      if (!parked) throw new Error(`job ${key} was not Queued`);
      await pools.enqueue('wlm', h);
    });
    process.stdout.write(`parked ${j}\n`);
    // Stop here for good (to be killed between the enqueue and the grant).
    if (j === pauseAt) await new Promise(() => {});
    const granted = await store.unit(() =>
      pools.grant(
        'wlm',
        h,
        {
          workflowExecutionId: exec,
          jobKey: key,
          expect: { attempt: 1, statuses: ['Queued'] },
          set: { waiting_for: null },
        },
        {
          messages: [
            {
              body: {
                version: EVENT_VERSION,
                workflow_id: 'wf_race',
                workflow_execution_id: exec,
                job_key: key,
                attempt: 1,
              },
            },
          ],
        },
      ),
    );
    process.stdout.write(`${granted} ${j}\n`);
  }
  return { done: n };
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'go') return;
  // Said just before the first write, which then waits if the parent holds the write lock.
  process.stdout.write('started\n');
  const run =
    mode === 'acquire'
      ? acquire(args[0] as string, Number(args[1]))
      : mode === 'release'
        ? release(Number(args[0]))
        : cycle(args[0] as string, Number(args[1]), Number(args[2] ?? 0));
  run.then(
    (r) => {
      store.close();
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
});
process.stdout.write('ready\n');
