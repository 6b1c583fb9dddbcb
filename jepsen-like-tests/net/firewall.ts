/**
 * Firewall: the iptables rules of a run's private namespace.
 *
 * Node processes run with their own group id (see cluster.ts), and every new connection a node
 * opens is source-NATed to that node's own 127.0.0.x address by an owner match
 * (`nat POSTROUTING -m owner --gid-owner G -j SNAT`). So the node needs no change to bind its
 * outgoing peer connections, and address-based rules see who talks to whom. The runner's own
 * connections (clients, status reads) are source-NATed to CLIENT_HOST.
 *
 * A Raft message from node i to node j only ever travels on a connection that i dialed to j's
 * listening port (each node dials its own stream to each peer). A directed cut i -> j is
 * therefore one rule, `-s A_i -d A_j -p tcp --dport P_j -j DROP`, in the STRATA-PART chain
 * (hooked into INPUT): i's messages to j are lost, j's messages to i still arrive. Rules are
 * replaced atomically with `iptables-restore --noflush`.
 *
 * With the proxy on, `nat OUTPUT` rules (STRATA-PROXY chain) redirect each node's connections
 * to each peer into that link's proxy port; the proxy dials the peer from the sender's address,
 * so the cut rules still apply to proxied traffic.
 */
import { run } from './namespace.js';

/** CLIENT_HOST is the address the runner's clients appear to come from. */
export const CLIENT_HOST = '127.0.0.100';
/** PROXY_HOST is the address the link proxies listen on. */
export const PROXY_HOST = '127.0.0.2';

/** FirewallNode is one node as the firewall sees it. */
export interface FirewallNode {
  id: number;
  host: string;
  port: number;
  gid: number;
}

/** Link is a directed pair of node ids: traffic from `from` to `to`. */
export type Link = readonly [from: number, to: number];

/** ProxyRoute sends node `from`'s connections to node `to` through `proxyPort`. */
export interface ProxyRoute {
  from: number;
  to: number;
  proxyPort: number;
}

/** Firewall owns the STRATA-* chains of the namespace. */
export class Firewall {
  private cut: Link[] = [];

  private constructor(
    private readonly nodes: readonly FirewallNode[],
    private readonly binary: string,
  ) {}

  /** Firewall.open installs the base rules (chains, source NAT). Inside the namespace only. */
  static async open(nodes: readonly FirewallNode[], runnerGid: number): Promise<Firewall> {
    const binary = await pickIptables();
    const firewall = new Firewall(nodes, binary);
    const nat = [
      '*nat',
      ':STRATA-PROXY - [0:0]',
      '-A OUTPUT -j STRATA-PROXY',
      ...nodes.map(
        (n) => `-A POSTROUTING -p tcp -m owner --gid-owner ${n.gid} -j SNAT --to-source ${n.host}`,
      ),
      `-A POSTROUTING -s 127.0.0.1 -p tcp -m owner --gid-owner ${runnerGid} ` +
        `-j SNAT --to-source ${CLIENT_HOST}`,
      'COMMIT',
    ];
    const filter = ['*filter', ':STRATA-PART - [0:0]', '-A INPUT -j STRATA-PART', 'COMMIT'];
    await run(`${binary}-restore`, ['--noflush'], [...nat, ...filter].join('\n') + '\n');
    return firewall;
  }

  private node(id: number): FirewallNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`firewall: no node ${id}`);
    return node;
  }

  /** cutLinks replaces the set of cut directed links (an empty list heals everything). */
  async cutLinks(links: readonly Link[]): Promise<void> {
    const rules = links.map(([from, to]) => {
      const a = this.node(from);
      const b = this.node(to);
      return `-A STRATA-PART -s ${a.host} -d ${b.host} -p tcp --dport ${b.port} -j DROP`;
    });
    const text = ['*filter', ':STRATA-PART - [0:0]', ...rules, 'COMMIT'].join('\n') + '\n';
    await run(`${this.binary}-restore`, ['--noflush'], text);
    this.cut = [...links];
  }

  /** heal removes every cut. */
  async heal(): Promise<void> {
    await this.cutLinks([]);
  }

  /** cutNow returns the links cut at the moment. */
  cutNow(): Link[] {
    return [...this.cut];
  }

  /** routeThroughProxies redirects each route's connections into its proxy port. */
  async routeThroughProxies(routes: readonly ProxyRoute[]): Promise<void> {
    const rules = routes.map((route) => {
      const from = this.node(route.from);
      const to = this.node(route.to);
      return (
        `-A STRATA-PROXY -p tcp -m owner --gid-owner ${from.gid} -d ${to.host} ` +
        `--dport ${to.port} -j DNAT --to-destination ${PROXY_HOST}:${route.proxyPort}`
      );
    });
    const text = ['*nat', ':STRATA-PROXY - [0:0]', ...rules, 'COMMIT'].join('\n') + '\n';
    await run(`${this.binary}-restore`, ['--noflush'], text);
  }

  /** describe lists the namespace's rules (for the report). */
  async describe(): Promise<string> {
    const filter = await run(this.binary, ['-S']);
    const nat = await run(this.binary, ['-t', 'nat', '-S']);
    return `# filter\n${filter}# nat\n${nat}`;
  }
}

/** pickIptables returns the iptables flavour that works here (nft first, then legacy). */
async function pickIptables(): Promise<string> {
  for (const binary of ['iptables', 'iptables-legacy']) {
    try {
      await run(binary, ['-w', '-t', 'nat', '-L', '-n']);
      return binary;
    } catch {
      continue;
    }
  }
  throw new Error('neither iptables nor iptables-legacy works in this namespace');
}
