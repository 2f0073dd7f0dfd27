/**
 * A port whose adapter is not written yet: every method call rejects with a message naming the
 * port and the method. Scaffolding for issue 14 (pools and operator actions) while the three
 * stores gain their implementations; nothing may still use it when the issue is resolved.
 */
export class PortNotImplementedError extends Error {
  constructor(port: string, method: string) {
    super(`${port}.${method} is not implemented by this store yet`);
    this.name = 'PortNotImplementedError';
  }
}

/** A stand-in for `port` whose methods all reject with PortNotImplementedError. */
export function unimplementedPort<T extends object>(port: string): T {
  return new Proxy({} as T, {
    get: (_t, method) =>
      typeof method === 'string' && method !== 'then'
        ? () => Promise.reject(new PortNotImplementedError(port, method))
        : undefined,
  });
}
