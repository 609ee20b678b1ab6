// Facts about where this plugin runs, from the host.

import { host } from "./sys.js";

/** This link's name in the chain manifest (also its key-value namespace). */
export function linkName() {
  return host("context.linkName()").host.name();
}

/**
 * The IP address of the client connected to the host for the current request
 * (the TCP peer, not `X-Forwarded-For`), e.g. `192.0.2.7` or `2001:db8::1`;
 * undefined outside a request (in `init`).
 */
export function clientIp() {
  const ip = host("context.clientIp()").host.clientIp();
  return ip ? ip : undefined;
}

/** The plugin's configuration as JSON text, as `init` received it (`null` when none). */
export function configText() {
  return host("context.configText()").host.config();
}

/** Milliseconds since the Unix epoch: `Date.now()`, which the test harness fakes during hooks. */
export function now() {
  return Date.now();
}
