// Test tokens, signed with node:crypto (independent of the SDK's HMAC).
import { createHmac } from "node:crypto";

const b64url = (s: string | Buffer) => Buffer.from(s).toString("base64url");

export function sign(claims: Record<string, unknown>, secret: string | Buffer, header: Record<string, unknown> = { alg: "HS256", typ: "JWT" }): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}
