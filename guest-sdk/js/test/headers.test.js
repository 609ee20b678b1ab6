import { test } from "node:test";
import assert from "node:assert/strict";
import { HeaderList } from "../src/headers.js";
import { encodeFields, walkFields } from "../src/wire.js";

const enc = (pairs) => encodeFields(pairs.map(([n, v]) => [n, v]));

test("the packed encoding is the wire crate's: u32 LE lengths", () => {
  const block = enc([["x-a", "1"], ["x-a", ""], ["x-bin", new Uint8Array([10, 0, 255])]]);
  assert.deepEqual(
    [...block],
    [3, 0, 0, 0, 120, 45, 97, 1, 0, 0, 0, 49, 3, 0, 0, 0, 120, 45, 97, 0, 0, 0, 0, 5, 0, 0, 0, 120, 45, 98, 105, 110, 3, 0, 0, 0, 10, 0, 255],
  );
  const h = HeaderList.fromPacked(block);
  assert.deepEqual([...h.entriesBytes()].map(([n, v]) => [n, [...v]]), [["x-a", [49]], ["x-a", []], ["x-bin", [10, 0, 255]]]);
});

test("truncated blocks end the walk (as the Rust decoder's Malformed)", () => {
  const block = enc([["name", "value"]]);
  for (let cut = 1; cut < block.length; cut++) {
    let n = 0;
    walkFields(block.subarray(0, cut), () => {
      n++;
      return false;
    });
    assert.equal(n, 0, `cut at ${cut}`);
  }
});

test("lookups ignore case and set replaces all", () => {
  const h = new HeaderList();
  h.append("X-A", "1");
  h.append("x-a", "2");
  assert.equal(h.getAll("x-A").length, 2);
  assert.equal(h.get("X-a"), "1");
  h.set("X-A", "3");
  assert.deepEqual(h.getAll("x-a"), ["3"]);
  assert.equal([...h][0][0], "x-a", "names are stored lower-case");
  assert.equal(h.remove("x-a"), 1);
  assert.ok(h.isEmpty());
});

test("non-UTF-8 values are kept as bytes", () => {
  const h = new HeaderList();
  h.append("x-bin", new Uint8Array([0xff, 0x00]));
  assert.deepEqual([...h.getBytes("x-bin")], [0xff, 0x00]);
  assert.equal(h.get("x-bin"), undefined);
  assert.equal(h.has("x-bin"), true);
});

test("packed headers are read in place and returned untouched (same bytes object)", () => {
  const block = enc([["accept", "*/*"], ["x-a", "1"]]);
  const h = HeaderList.fromPacked(block);
  assert.equal(h.get("Accept"), "*/*");
  assert.equal(h.size, 2);
  assert.equal(h.remove("absent"), 0);
  assert.equal(h.has("x-a"), true);
  assert.deepEqual(h.names(), ["accept", "x-a"]);
  assert.ok(h.unchanged, "reads and no-op removes keep it packed");
  assert.equal(h.toPacked(), block, "the very same Uint8Array goes back");

  h.set("x-a", "2");
  assert.ok(!h.unchanged);
  assert.equal(h.get("x-a"), "2");
  assert.equal(h.get("accept"), "*/*");
  assert.deepEqual(h.toPacked(), enc([["accept", "*/*"], ["x-a", "2"]]));
  assert.ok(h.equals(new HeaderList([["Accept", "*/*"], ["x-a", "2"]])));
});

test("constructors, objects and clones", () => {
  const h = new HeaderList({ "Set-Cookie": ["a=1", "b=2"], "X-One": "1" });
  assert.deepEqual(h.getAll("set-cookie"), ["a=1", "b=2"]);
  assert.deepEqual(h.toObject(), { "set-cookie": "a=1", "x-one": "1" });
  const c = h.clone();
  c.set("x-one", "2");
  assert.equal(h.get("x-one"), "1");
  assert.throws(() => h.set("x", null), TypeError);
  assert.throws(() => h.set(1, "x"), TypeError);
  assert.equal(h.set("x-n", 5).get("x-n"), "5");
});

test("edits copy untouched fields as bytes and keep order; malformed tails are dropped", () => {
  const block = enc([["a", "1"], ["b", "2"], ["a", "3"], ["c", "4"]]);
  const h = HeaderList.fromPacked(block);
  h.set("A", "9");
  assert.deepEqual([...h.entries()], [["b", "2"], ["c", "4"], ["a", "9"]]);
  assert.equal(h.remove("b"), 1);
  h.append("b", "5");
  assert.deepEqual([...h.entries()], [["c", "4"], ["a", "9"], ["b", "5"]]);
  assert.deepEqual([...block], [...enc([["a", "1"], ["b", "2"], ["a", "3"], ["c", "4"]])], "the received block is never written");
  const broken = new Uint8Array([...enc([["x", "1"]]), 200, 0, 0, 0]);
  const b = HeaderList.fromPacked(broken);
  assert.equal(b.size, 1);
  b.append("y", "2");
  assert.deepEqual([...b.entries()], [["x", "1"], ["y", "2"]]);
  assert.equal(new HeaderList([["é-name", "v"]]).size, 1, "non-ASCII names still encode");
});
