import { test } from "node:test";
import assert from "node:assert/strict";
import { Request, Response } from "../src/message.js";

const req = (p) => Request.get(p).withAuthority("example.com");

test("path and query split", () => {
  const r = req("/a/b?x=1&y=hello+w%6Frld&z");
  assert.equal(r.path(), "/a/b");
  assert.equal(r.query(), "x=1&y=hello+w%6Frld&z");
  assert.equal(r.queryParam("y"), "hello world");
  assert.equal(r.queryParam("z"), "");
  assert.equal(r.queryParam("missing"), undefined);
  assert.deepEqual(r.queryParams(), [["x", "1"], ["y", "hello world"], ["z", ""]]);
  assert.equal(req("/p").query(), undefined);
});

test("setPath keeps the query; setQuery replaces it", () => {
  const r = req("/old?q=1");
  r.setPath("/new");
  assert.equal(r.pathWithQuery(), "/new?q=1");
  r.setQuery("a=2");
  assert.equal(r.pathWithQuery(), "/new?a=2");
  r.setQuery(undefined);
  assert.equal(r.pathWithQuery(), "/new");
});

test("path is normalised and follows rewrites", () => {
  const r = req("/x/../%61dmin//panel?next=/../");
  assert.equal(r.path(), "/admin/panel");
  assert.equal(r.rawPath(), "/x/../%61dmin//panel");
  r.setPath("/%62");
  assert.equal(r.path(), "/b");
  assert.equal(r.pathWithQuery(), "/%62?next=/../");
});

test("cookies", () => {
  const r = req("/").withHeader("cookie", "a=1; ab=\"quoted\"").withHeader("Cookie", "c=3");
  assert.equal(r.cookie("a"), "1");
  assert.equal(r.cookie("ab"), "quoted");
  assert.equal(r.cookie("c"), "3");
  assert.equal(r.cookie("b"), undefined);
});

test("bodies as bytes, text and JSON", () => {
  const r = Request.post("/api", { a: 1 });
  assert.equal(r.header("content-type"), "application/json");
  assert.deepEqual(r.json(), { a: 1 });
  r.setBody("héllo");
  assert.equal(r.text(), "héllo");
  assert.equal(r.body.length, 6);
  r.setBody(null);
  assert.equal(r.text(), undefined);
  assert.throws(() => r.json(), SyntaxError);

  const resp = Response.json(201, { ok: true });
  assert.equal(resp.status, 201);
  assert.deepEqual(resp.json(), { ok: true });
  assert.equal(Response.text(403, "no\n").header("content-type"), "text/plain; charset=utf-8");
  assert.equal(Response.redirect(302, "/login").header("location"), "/login");
});

test("raw records round trip; unchanged headers are the same bytes", () => {
  const headers = new Uint8Array([3, 0, 0, 0, 120, 45, 97, 1, 0, 0, 0, 49]);
  const raw = { method: "GET", pathWithQuery: "/a?b", normalizedPath: "/a", authority: "h", headers, body: undefined };
  const r = Request._fromRaw(raw);
  assert.equal(r.header("x-a"), "1");
  assert.equal(r.body, null);
  const back = r._toRaw();
  assert.equal(back.headers, headers);
  assert.equal(back.body, null);
  assert.equal(back.normalizedPath, "/a");
  const resp = Response._fromRaw({ status: 200, headers, body: new Uint8Array([104, 105]) });
  assert.equal(resp.text(), "hi");
  assert.equal(resp._toRaw().headers, headers);
});
