/**
 * Entry point of the link-proxy child process (forked by ProxyControl, inside the run's
 * namespace). It runs the proxies off the runner's event loop, so that the workload's clients
 * cannot slow peer traffic down, and obeys IPC requests: `start`, `mode`, `stats`. It exits
 * when its parent disconnects.
 */
import { LinkProxy, type LinkMode, type LinkSpec } from './proxy.js';

/** ProxyRequest is a message from the runner. */
export type ProxyRequest =
  | { id: number; type: 'start'; links: LinkSpec[] }
  | { id: number; type: 'mode'; keys: string[]; mode: LinkMode }
  | { id: number; type: 'stats' };

/** ProxyReply answers one request by id. */
export interface ProxyReply {
  id: number;
  error?: string;
  result?: unknown;
}

const proxy = new LinkProxy();

async function handle(request: ProxyRequest): Promise<unknown> {
  switch (request.type) {
    case 'start':
      return proxy.start(request.links);
    case 'mode':
      return proxy.setMode(request.keys, request.mode);
    case 'stats':
      return proxy.stats();
    default:
      return request satisfies never;
  }
}

process.on('message', (message: ProxyRequest) => {
  handle(message).then(
    (result) => process.send?.({ id: message.id, result } satisfies ProxyReply),
    (error: unknown) =>
      process.send?.({ id: message.id, error: String(error) } satisfies ProxyReply),
  );
});
process.on('disconnect', () => {
  proxy.close();
  process.exit(0);
});
