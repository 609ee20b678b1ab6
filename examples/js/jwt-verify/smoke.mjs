// Real-host checks for jwt-verify (run by ../smoke.mjs against proxy_config
// served by `edgechain demo`, whose echo origin answers with the request it got).
import { createHmac } from "node:crypto";

const SECRET = "demo-secret-change-me-0123456789abcdef";
const b64url = (s) => Buffer.from(s).toString("base64url");
function sign(claims, secret = SECRET, header = { alg: "HS256", typ: "JWT" }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

export async function checks(curl, assert) {
  let n = 0;
  const check = (cond, msg) => {
    assert.ok(cond, msg);
    n++;
  };
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "https://auth.example.com", aud: "api", sub: "user-42", scope: "read", exp: now + 300 };
  const bearer = (t) => ({ authorization: `Bearer ${t}` });

  const ok = curl("/api/orders", { headers: { ...bearer(sign(claims)), "x-user-id": "forged" } });
  check(ok.status === 200, `valid token passes (${ok.status})`);
  check(ok.json().headers["x-user-id"] === "user-42", "claims forwarded, forged header replaced");
  check(ok.json().headers["x-user-scope"] === "read", "scope forwarded");

  const none = curl("/api/orders");
  check(none.status === 401 && none.header("www-authenticate") === 'Bearer realm="api"', "no token: bare challenge");
  check(none.json().error === "unauthorized", "JSON error body");

  const expired = curl("/api/orders", { headers: bearer(sign({ ...claims, exp: now - 120 })) });
  check(expired.status === 401 && /error="invalid_token", error_description="expired"/.test(expired.header("www-authenticate")), "expired");
  const forged = curl("/api/orders", { headers: bearer(sign(claims, "another-secret-that-is-long-enough!!")) });
  check(forged.status === 401 && /bad signature/.test(forged.header("www-authenticate")), "bad signature");
  const aud = curl("/api/orders", { headers: bearer(sign({ ...claims, aud: "billing" })) });
  check(aud.status === 401 && /wrong audience/.test(aud.header("www-authenticate")), "wrong audience");
  const algNone = sign(claims, SECRET, { alg: "none" }).replace(/\.[^.]*$/, ".");
  check(curl("/api/orders", { headers: bearer(algNone) }).status === 401, "alg none refused");

  check(curl("/api/health").status === 200, "excluded path needs no token");
  const pub = curl("/public", { headers: { "x-user-id": "forged" } });
  check(pub.status === 200 && pub.json().headers["x-user-id"] === undefined, "out of scope: no token needed, forged identity removed");
  check(curl("//api/./orders").status === 401, "other spellings of a protected path are protected");
  for (let i = 0; i < 20; i++) check(curl("/api/orders", { headers: bearer(sign({ ...claims, sub: `u${i}` })) }).json().headers["x-user-id"] === `u${i}`, "many requests");
  return n;
}
