// Types of @edgechain/sdk/crypto: synchronous hashing and encodings in plain JS.
export type BytesLike = Uint8Array | string;
export function sha256(data: BytesLike): Uint8Array;
export function hmacSha256(key: BytesLike, data: BytesLike): Uint8Array;
/** HMAC-SHA256 with the key's states precomputed (keep one per secret). */
export class HmacSha256 {
  constructor(key: BytesLike);
  digest(data: BytesLike): Uint8Array;
  verify(data: BytesLike, mac: BytesLike): boolean;
}
export function timingSafeEqual(a: BytesLike, b: BytesLike): boolean;
export function base64Encode(data: BytesLike): string;
export function base64UrlEncode(data: BytesLike): string;
/** base64 or base64url, padding optional; undefined when malformed. */
export function base64Decode(s: string): Uint8Array | undefined;
export function base64UrlDecodeText(s: string): string | undefined;
export function toHex(data: BytesLike): string;
