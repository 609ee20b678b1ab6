import { test } from "node:test";
import assert from "node:assert/strict";
import { Request } from "@edgechain/sdk";
import { Harness } from "@edgechain/sdk/testing";
import MyPlugin from "../src/index.js";

test("greets upstream and tags the response", () => {
  const h = new Harness(MyPlugin, { greeting: "hi" });
  const { request, response } = h.roundTrip(Request.get("/x"));
  assert.equal(request.header("x-greeting"), "hi");
  assert.equal(response.header("x-served-by"), "{{name}}");
});

test("answers /healthz at the edge", () => {
  const h = new Harness(MyPlugin);
  const { answeredBy, response } = h.roundTrip(Request.get("/healthz"));
  assert.equal(answeredBy, "plugin");
  assert.equal(response.text(), "ok\n");
});

test("rejects unknown config fields", () => {
  assert.match(Harness.configError(MyPlugin, { greetin: "x" }) ?? "", /unknown field `greetin`/);
});
