/**
 * In-memory fakes of every service port, with the same semantics as the SQLite store
 * (runtime/local/store.ts), and a deterministic simulation harness that wires the five real
 * services over them with a fake clock, a scripted agent fleet and a fake single-job wrapper.
 *
 * Why: the services are pure logic over ports, so their behaviour under at-least-once delivery,
 * reordering, retries, timeouts and cancellation can be tested exhaustively and quickly, without
 * SQLite, processes or wall-clock time. Every delivery can be duplicated and shuffled (seeded), and
 * every job start and finish is recorded with its fake time, so tests can assert ordering and
 * concurrency exactly.
 *
 * This module is the entry tests import; the parts live beside it:
 * - `fake-clock.ts` — the fake clock and the memory logger;
 * - `in-memory-store.ts` — the store (tables, outbox, change feed, injected faults);
 * - `simulation.ts` with `simulation-types.ts`, `fake-wrapper.ts` and `scripted-agent-fleet.ts` —
 *   the simulation, the fake single-job wrapper and the scripted agents;
 * - `compare-runs.ts` — audit snapshots, diffs, clean-versus-chaos comparisons.
 * The PRNG and the redelivery rule are the engine's own (`services/shared/seeded-random.ts`,
 * `services/shared/redelivery.ts`).
 */
export { seededRandom } from '../shared/seeded-random.js';
export { auditSnapshot, compareUnderChaos, diffValues, runScenario, type Scenario } from './compare-runs.js';
export { DEFAULT_SIMULATION_START, FakeClock, type LogEntry, MemoryLogger } from './fake-clock.js';
export { FakeWrapper } from './fake-wrapper.js';
export {
  InjectedFaultError,
  InMemoryStore,
  type OutboxRecord,
  type StoreFault,
  type StoreMethod,
} from './in-memory-store.js';
export { type AgentExecution, ScriptedAgentFleet } from './scripted-agent-fleet.js';
export { createSimulation, Simulation, type SimulationServices } from './simulation.js';
export type * from './simulation-types.js';
