import { test } from "node:test";
import assert from "node:assert/strict";
import { random, getRandomValues, randomUUID, randomInt, _resetRandom } from "../src/random.js";

test("random() is uniform-ish in [0, 1) and reseeds", () => {
  const xs = Array.from({ length: 20000 }, random);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((a, b) => a + b) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  _resetRandom();
  const a = random();
  _resetRandom();
  assert.notEqual(random(), a, "a new seed each time");
});

test("getRandomValues, randomUUID, randomInt", () => {
  const u = getRandomValues(new Uint32Array(4));
  assert.ok(u.some((x) => x !== 0));
  assert.throws(() => getRandomValues(new Float64Array(1)), TypeError);
  assert.match(randomUUID(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[randomInt(3)]++;
  assert.ok(counts.every((c) => c > 800), counts.join());
});
