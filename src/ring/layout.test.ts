/**
 * Proves that a ClusterLayout survives JSON unchanged, that createClusterLayout's placement is
 * placement()'s, and that parseClusterLayout refuses each kind of bad layout with the path of
 * the bad field (one table row per rule).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ClusterLayoutError, RingConfigError } from './errors.js';
import { ROUTING_VERSION } from './group-ring.js';
import {
  LAYOUT_JSON_LENGTH_MAX,
  createClusterLayout,
  parseClusterLayout,
  placementOfLayout,
  type ClusterLayout,
} from './layout.js';
import { placement } from './placement.js';

const fourNodes = [4, 2, 3, 1].map((id) => ({ id, address: `10.0.0.${id}:7400` }));

/** Untyped lets a test break a layout in any shape; the parser is what must catch it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Untyped = any;

/** mutated returns a deep copy of a small layout as plain JSON with `change` applied. */
function mutated(change: (layout: Untyped) => void): unknown {
  const layout: Untyped = JSON.parse(
    JSON.stringify(createClusterLayout({ nodes: fourNodes, groupCount: 4 })),
  );
  change(layout);
  return layout;
}

describe('ClusterLayout', () => {
  test('defaults: epoch 1, 64 groups, rf 3, nodes sorted by id', () => {
    const layout = createClusterLayout({ nodes: fourNodes });
    assert.equal(layout.epoch, 1);
    assert.equal(layout.routingVersion, ROUTING_VERSION);
    assert.equal(layout.groupCount, 64);
    assert.equal(layout.replicationFactor, 3);
    assert.deepEqual(
      layout.nodes.map((node) => node.id),
      [1, 2, 3, 4],
    );
    assert.deepEqual(placementOfLayout(layout), placement(64, [1, 2, 3, 4], 3));
  });

  test('round-trips through JSON text and parsed values', () => {
    const input = fc.record({
      nodeCount: fc.integer({ min: 1, max: 8 }),
      groupCount: fc.integer({ min: 1, max: 50 }),
      replicationFactor: fc.integer({ min: 1, max: 7 }),
      epoch: fc.nat(),
    });
    fc.assert(
      fc.property(input, ({ nodeCount, groupCount, replicationFactor, epoch }) => {
        fc.pre(replicationFactor <= nodeCount);
        const nodes = Array.from({ length: nodeCount }, (_, i) => ({
          id: 100 + i,
          address: `node-${i}.strata:7400`,
        }));
        const layout = createClusterLayout({ nodes, groupCount, replicationFactor, epoch });
        const text = JSON.stringify(layout);
        assert.deepEqual(parseClusterLayout(text), layout);
        assert.deepEqual(parseClusterLayout(JSON.parse(text)), layout);
      }),
      { numRuns: 40 },
    );
  });

  test('createClusterLayout rejects bad options with RingConfigError', () => {
    const cases: [() => ClusterLayout, RegExp][] = [
      [() => createClusterLayout({ nodes: fourNodes, epoch: -1 }), /epoch/],
      [() => createClusterLayout({ nodes: fourNodes.slice(0, 2) }), /exceeds the node count 2/],
      [() => createClusterLayout({ nodes: fourNodes, groupCount: 0 }), /group count/],
      [
        () => createClusterLayout({ nodes: [...fourNodes, { id: 1, address: 'x:1' }] }),
        /duplicate node id 1/,
      ],
      [
        () => createClusterLayout({ nodes: fourNodes.map((n) => ({ ...n, address: 'a:1' })) }),
        /duplicate node address a:1/,
      ],
      [
        () => createClusterLayout({ nodes: [{ id: 1, address: 'no port' }] }),
        /host:port without spaces/,
      ],
    ];
    for (const [call, message] of cases)
      assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof RingConfigError, String(error));
        assert.match(error.message, message);
        return true;
      });
  });

  test('parseClusterLayout refuses bad layouts, naming the field', () => {
    const cases: [unknown, string, RegExp][] = [
      ['{not json', '$', /not valid JSON/],
      [[], '$', /must be an object/],
      [mutated((l) => (l.extra = 1)), '$.extra', /unknown field/],
      [mutated((l) => delete l.epoch), '$.epoch', /missing/],
      [mutated((l) => (l.epoch = -1)), '$.epoch', /got -1/],
      [mutated((l) => (l.routingVersion = 2)), '$.routingVersion', /not this build's 1/],
      [mutated((l) => (l.groupCount = '4')), '$.groupCount', /got "4"/],
      [mutated((l) => (l.groupCount = 70000)), '$', /\[1, 65535\], got 70000/],
      [mutated((l) => (l.replicationFactor = 5)), '$', /exceeds the node count 4/],
      [mutated((l) => (l.nodes[1].id = 1)), '$.nodes', /duplicate node id 1/],
      [mutated((l) => (l.nodes[0].id = 0)), '$.nodes[0].id', /got 0/],
      [mutated((l) => (l.nodes[0].address = 7)), '$.nodes[0].address', /must be a string/],
      [mutated((l) => (l.nodes[2].address = '')), '$.nodes', /host:port/],
      [mutated((l) => l.placement.pop()), '$.placement', /has 3 entries/],
      [mutated((l) => (l.placement[1].groupId = 1)), '$.placement', /group 2 is missing/],
      [mutated((l) => (l.placement[1].groupId = 5)), '$.placement[1].groupId', /\[1, 4\]/],
      [mutated((l) => l.placement[0].target.pop()), '$.placement[0].target', /has 2/],
      [mutated((l) => (l.placement[0].replicas = [])), '$.placement[0].replicas', /has 0/],
      [
        mutated((l) => (l.placement[0].learners = [9])),
        '$.placement[0].learners',
        /node 9 is not in \$.nodes/,
      ],
      [
        mutated((l) => (l.placement[0].learners = [...l.placement[0].replicas])),
        '$.placement[0].learners',
        /without a voter/,
      ],
      [mutated((l) => (l.nodes[0].state = 'gone')), '$.nodes[0].state', /must be one of/],
      [mutated((l) => (l.metaGroup.target = [])), '$.metaGroup.target', /has 0 nodes/],
      [
        mutated((l) => (l.placement[0].replicas[1] = l.placement[0].replicas[0])),
        '$.placement[0].replicas',
        /repeats a node/,
      ],
      [
        mutated((l) => (l.placement[2].replicas[0] = 9)),
        '$.placement[2].replicas',
        /node 9 is not in \$.nodes/,
      ],
      [' '.repeat(LAYOUT_JSON_LENGTH_MAX + 1), '$', /more than/],
    ];
    for (const [input, path, message] of cases) {
      assert.throws(
        () => parseClusterLayout(input),
        (error: unknown) => {
          assert.ok(error instanceof ClusterLayoutError, String(error));
          assert.equal(error.code, 'CLUSTER_LAYOUT_INVALID');
          assert.equal(error.path, path, error.message);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  test('parseClusterLayout accepts a placement that differs from the computed one', () => {
    // During a move the stored placement is the truth; the parser checks structure only.
    const layout = mutated((l) => {
      l.placement[0].replicas = [4, 3, 2, 1];
      l.placement[0].learners = [1];
      l.placement.reverse();
    });
    const parsed = parseClusterLayout(layout);
    assert.deepEqual(parsed.placement[0], {
      groupId: 1,
      replicas: [4, 3, 2, 1],
      learners: [1],
      target: createClusterLayout({ nodes: fourNodes, groupCount: 4 }).placement[0]!.target,
    });
    assert.deepEqual(
      parsed.placement.map((entry) => entry.groupId),
      [1, 2, 3, 4],
    );
  });
});
