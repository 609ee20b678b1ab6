// Real-host checks for ab-router (run by ../smoke.mjs against proxy_config
// served by `edgechain demo`, whose echo origin answers with the request it got).

export async function checks(curl, assert) {
  let n = 0;
  const check = (cond, msg) => {
    assert.ok(cond, msg);
    n++;
  };

  // Out of scope: untouched.
  const other = curl("/home");
  check(other.status === 200 && other.json().headers["x-ab-bucket"] === undefined, "out of scope passes untouched");
  check(other.header("set-cookie") === undefined, "no cookie out of scope");

  // A new visitor: assigned, routed, signed sticky cookie on the way back.
  const first = curl("/checkout?step=1");
  const seen = first.json();
  const bucket = seen.headers["x-ab-bucket"];
  check(bucket === "control" || bucket === "v2", `assigned a bucket (${bucket})`);
  check(seen.path === (bucket === "v2" ? "/v2/checkout?step=1" : "/checkout?step=1"), `routed by bucket: ${seen.path}`);
  const cookie = first.header("set-cookie");
  check(new RegExp(`^ab_checkout=${bucket}\\.[A-Za-z0-9_-]{16}; Path=/; Max-Age=2592000; SameSite=Lax; HttpOnly$`).test(cookie), `signed cookie: ${cookie}`);

  // Returning with the cookie: same bucket, no new cookie.
  const pair = cookie.split(";")[0];
  for (let i = 0; i < 3; i++) {
    const again = curl("/checkout", { headers: { cookie: pair } });
    check(again.json().headers["x-ab-bucket"] === bucket, "sticky");
    check(again.header("set-cookie") === undefined, "no new cookie for a returning visitor");
  }

  // A forged cookie is not honoured; the QA override is.
  const forged = curl("/checkout", { headers: { cookie: "ab_checkout=v2" } });
  check(/^ab_checkout=(control|v2)\./.test(forged.header("set-cookie") ?? ""), "a forged cookie is replaced");
  const qa = curl("/checkout?ab=v2");
  check(qa.json().path === "/v2/checkout?ab=v2" && qa.json().headers["x-variant"] === "new-flow", "override routes to v2");

  // Another spelling of the path is in scope too (the host's normalised path).
  check(curl("//checkout").json().headers["x-ab-bucket"] !== undefined, "//checkout is in scope");

  // The split over 60 new visitors, and the stats kept in the host's kv store.
  const counts = { control: 0, v2: 0 };
  for (let i = 0; i < 60; i++) counts[curl("/checkout").json().headers["x-ab-bucket"]]++;
  check(counts.control > counts.v2, `90/10 split: ${JSON.stringify(counts)}`);
  const stats = curl("/_ab/checkout");
  check(stats.status === 200 && stats.header("content-type") === "application/json", "stats answered at the edge");
  const assigned = stats.json().assigned;
  check(assigned.control + assigned.v2 >= 62, `stats count assignments: ${JSON.stringify(assigned)}`);
  return n;
}
