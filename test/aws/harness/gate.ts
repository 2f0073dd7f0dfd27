/**
 * The primitive behind the harness's holds: a gate a held call waits at until released, and a
 * signal that a call reached it, so tests wait for "held now" instead of sleeping.
 */

/** A closed gate (`gate` resolves when `open` is called) and its "reached" signal. */
export interface Gate<T> {
  gate: Promise<void>;
  open(): void;
  reached: Promise<T>;
  hit(value: T): void;
}

/** A new closed gate, not reached yet. */
export function createGate<T>(): Gate<T> {
  let open!: () => void;
  let hit!: (value: T) => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const reached = new Promise<T>((r) => {
    hit = r;
  });
  return { gate, open, reached, hit };
}

/** Puts `entry` in `list` and returns its release: out of the list, then the gate opens. */
export function holdIn<E>(list: E[], entry: E, open: () => void): () => void {
  list.push(entry);
  return () => {
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    open();
  };
}
