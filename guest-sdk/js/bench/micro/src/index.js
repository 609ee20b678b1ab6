// Per-operation costs inside the engine: GET /?op=NAME&n=COUNT runs the
// operation COUNT times in one request; bench/micro.sh reads the host
// process's CPU time around each request (NOTES.md, "Costs inside a hook").
import { kv, randomInt } from "@edgechain/sdk";
import { HmacSha256, base64UrlEncode, sha256 } from "@edgechain/sdk/crypto";

let mac = null;
const OPS = {
  empty: () => {},
  hmac: () => mac.digest("checkout:v2"),
  sha256Block: () => sha256("checkout:v2"),
  headerGet: (req) => req.header("user-agent"),
  headerMiss: (req) => req.header("x-absent"),
  headerSet: (req) => req.headers.clone().set("x-a", "1"),
  queryParam: (req) => req.queryParam("ab"),
  cookie: (req) => req.cookie("ab_checkout"),
  setPath: (req) => req.setPath("/v2/checkout"),
  randomInt: () => randomInt(100),
  mathRandom: () => Math.random(),
  kvIncrement: () => kv.increment("n", 1),
  kvGet: () => kv.get("n"),
  base64Url32: () => base64UrlEncode(new Uint8Array(32)),
  jsonParse: () => JSON.parse('{"iss":"https://auth.example.com","aud":"api","sub":"user-42","exp":4102444800}'),
};

export default class Micro {
  onRequest(req) {
    mac ??= new HmacSha256("0123456789abcdef-secret");
    const op = OPS[req.queryParam("op")];
    const n = Number(req.queryParam("n"));
    if (op === undefined) return;
    for (let i = 0; i < n; i++) op(req);
  }
}
