/**
 * The simulation's clock and logger: fake time that moves only when told, and log lines kept for
 * tests to read (services/testing/in-memory.ts re-exports both).
 */
import type { Clock, Logger } from '../ports.js';

/** Where fake time starts unless told otherwise: a fixed instant, so runs are reproducible. */
export const DEFAULT_SIMULATION_START = '2024-01-01T00:00:00.000Z';

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  private ms: number;

  constructor(start: Date | string | number = DEFAULT_SIMULATION_START) {
    this.ms = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  /** Milliseconds since the epoch. */
  get millis(): number {
    return this.ms;
  }

  /** Moves to an instant; time never goes backwards. */
  set(ms: number): void {
    if (ms < this.ms) throw new Error(`FakeClock cannot go back from ${this.ms} to ${ms}`);
    this.ms = ms;
  }

  advance(ms: number): void {
    this.set(this.ms + ms);
  }
}

/** One line a service logged. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A logger that keeps what it is told, for tests to read. */
export class MemoryLogger implements Logger {
  readonly entries: LogEntry[] = [];

  info(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, fields });
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, fields });
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, fields });
  }
}
