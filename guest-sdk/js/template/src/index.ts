// {{name}}: an edgechain plugin. The default export is the plugin class; the
// host builds one value per instance from the manifest's `config`.

import { Needs, Request, Response, checkKeys, log, type Plugin } from "@edgechain/sdk";

interface Config {
  /** Sent upstream in `x-greeting`. */
  greeting?: string;
}

export default class MyPlugin implements Plugin {
  private readonly greeting: string;

  constructor(config: Config) {
    // Throwing here rejects the chain with this message (also in `edgechain validate`).
    checkKeys(config, ["greeting"]);
    this.greeting = config.greeting ?? "hello";
    if (this.greeting.length > 100) throw new Error("`greeting` is too long");
  }

  needs() {
    return Needs.RESPONSE_PHASE;
  }

  onRequest(req: Request): Response | void {
    if (req.path() === "/healthz") return Response.text(200, "ok\n");
    req.setHeader("x-greeting", this.greeting);
    log.debug(`passing on ${req.method} ${req.path()}`);
  }

  onResponse(_req: Request, resp: Response): void {
    resp.setHeader("x-served-by", "{{name}}");
  }
}
