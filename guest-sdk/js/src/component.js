// Read what a WebAssembly component imports and exports, and count what one
// instance of it takes from the host's instance pool, straight from the
// binary (component model binary format), without other tools.

const td = typeof TextDecoder === "function" ? new TextDecoder() : null;

function reader(bytes, start, end) {
  const r = {
    p: start,
    end,
    u8() {
      if (r.p >= r.end) throw new Error("unexpected end of component");
      return bytes[r.p++];
    },
    leb() {
      let x = 0;
      let s = 0;
      let b;
      do {
        b = r.u8();
        x += (b & 0x7f) * 2 ** s;
        s += 7;
      } while (b & 0x80);
      return x;
    },
    str() {
      const n = r.leb();
      const s = td ? td.decode(bytes.subarray(r.p, r.p + n)) : String.fromCharCode(...bytes.subarray(r.p, r.p + n));
      r.p += n;
      return s;
    },
  };
  return r;
}

function sortKind(r) {
  const sort = r.u8();
  if (sort === 0x00) {
    r.u8();
    return "core";
  }
  return ["core", "func", "value", "type", "component", "instance"][sort] || `sort-${sort}`;
}

function externDesc(r) {
  const sort = r.u8();
  switch (sort) {
    case 0x00:
      r.u8();
      r.leb();
      return "module";
    case 0x01:
      r.leb();
      return "func";
    case 0x02:
      r.u8();
      r.leb();
      return "value";
    case 0x03:
      if (r.u8() === 0x00) r.leb();
      return "type";
    case 0x04:
      r.leb();
      return "component";
    case 0x05:
      r.leb();
      return "instance";
    default:
      throw new Error(`unknown extern kind 0x${sort.toString(16)}`);
  }
}

function coreModuleStats(bytes, start, end) {
  const r = reader(bytes, start + 8, end);
  let memories = 0;
  let tables = 0;
  while (r.p < end) {
    const id = r.u8();
    const size = r.leb();
    const next = r.p + size;
    if (id === 4) tables += r.leb();
    if (id === 5) memories += r.leb();
    r.p = next;
  }
  return { memories, tables, bytes: end - start };
}

/** Core instantiations (and the memories/tables they define) of the component in bytes[start, end), nested ones included. */
function poolUse(bytes, start, end) {
  const r = reader(bytes, start + 8, end);
  const modules = [];
  const use = { coreInstances: 0, memories: 0, tables: 0, coreModules: 0 };
  while (r.p < end) {
    const id = r.u8();
    const size = r.leb();
    const next = r.p + size;
    if (id === 1) {
      modules.push(coreModuleStats(bytes, r.p, next));
      use.coreModules++;
    } else if (id === 4) {
      const inner = poolUse(bytes, r.p, next);
      use.coreInstances += inner.coreInstances;
      use.memories += inner.memories;
      use.tables += inner.tables;
      use.coreModules += inner.coreModules;
    } else if (id === 2) {
      const n = r.leb();
      for (let i = 0; i < n; i++) {
        const tag = r.u8();
        if (tag === 0x00) {
          const m = modules[r.leb()];
          use.coreInstances++;
          if (m) {
            use.memories += m.memories;
            use.tables += m.tables;
          }
          const args = r.leb();
          for (let j = 0; j < args; j++) {
            r.str();
            r.u8();
            r.leb();
          }
        } else {
          const exports = r.leb();
          for (let j = 0; j < exports; j++) {
            r.str();
            r.u8();
            r.leb();
          }
        }
      }
    }
    r.p = next;
  }
  return use;
}

/**
 * @param {Uint8Array} bytes a component binary
 * @returns {{imports: {name: string, kind: string}[], exports: {name: string, kind: string}[],
 *            pool: {coreInstances: number, memories: number, tables: number, coreModules: number}}}
 */
export function inspectComponent(bytes) {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error("not a WebAssembly binary");
  }
  if (bytes[6] !== 0x01 || bytes[7] !== 0x00) {
    throw new Error("a core WebAssembly module, not a component");
  }
  const r = reader(bytes, 8, bytes.length);
  const imports = [];
  const exports = [];
  while (r.p < bytes.length) {
    const id = r.u8();
    const size = r.leb();
    const next = r.p + size;
    if (id === 10) {
      const n = r.leb();
      for (let i = 0; i < n; i++) {
        r.u8(); // name form (0x00 plain, 0x01 with version suffix)
        const name = r.str();
        imports.push({ name, kind: externDesc(r) });
      }
    } else if (id === 11) {
      const n = r.leb();
      for (let i = 0; i < n; i++) {
        r.u8();
        const name = r.str();
        const kind = sortKind(r);
        r.leb();
        if (r.u8() === 0x01) externDesc(r);
        exports.push({ name, kind });
      }
    }
    r.p = next;
  }
  return { imports, exports, pool: poolUse(bytes, 0, bytes.length) };
}

/** The WASI p2 packages the edgechain host links (sockets are linked but every use is denied). */
export const HOST_WASI_PACKAGES = ["cli", "clocks", "io", "filesystem", "random", "sockets"];
/** The edgechain:plugin interfaces the host provides. */
export const HOST_EDGECHAIN_INTERFACES = ["types", "host", "kv", "http", "cache"];
/** The wasi:http interfaces the host provides to an edge app (a `wasi:http` handler). */
export const HOST_WASI_HTTP_INTERFACES = ["types", "outgoing-handler"];

const NAME = /^([a-z0-9-]+):([a-z0-9-]+)\/([a-z0-9-]+)(?:@(\d+)\.(\d+)\.(\d+)(?:-[^\s]*)?)?$/;

/**
 * What the host makes of a component, from its exports: `"plugin"` (it
 * exports edgechain:plugin/filter: a link anywhere in a chain), `"app"` (it
 * exports wasi:http/incoming-handler@0.2.x: an edge app, served as the last
 * link of a chain) or `"unknown"` (neither: the host refuses it).
 * @param {{name: string, kind: string}[]} exports
 * @returns {"plugin"|"app"|"unknown"}
 */
export function componentRole(exports) {
  const iface = (e) => NAME.exec(e.name);
  if (exports.some((e) => { const m = iface(e); return m && m[1] === "edgechain" && m[2] === "plugin" && m[3] === "filter"; })) return "plugin";
  if (exports.some((e) => { const m = iface(e); return m && m[1] === "wasi" && m[2] === "http" && m[3] === "incoming-handler" && m[4] === "0" && m[5] === "2"; })) return "app";
  return "unknown";
}

/**
 * Imports the host cannot satisfy, each with the reason. Empty when the
 * component only needs WASI p2 (0.2.x) interfaces the host links and
 * edgechain:plugin/{types,host,kv,http,cache}@0.3.x; with `{app: true}` (an edge
 * app, see componentRole) wasi:http/{types,outgoing-handler}@0.2.x too.
 * @param {{name: string, kind: string}[]} imports
 * @param {{app?: boolean}} [options]
 */
export function unsupportedImports(imports, { app = false } = {}) {
  const bad = [];
  for (const { name, kind } of imports) {
    const m = NAME.exec(name);
    if (kind !== "instance" || !m) {
      bad.push({ name, reason: `a ${kind} import the host does not provide` });
      continue;
    }
    const [, ns, pkg, iface, major, minor] = m;
    if (ns === "wasi") {
      const http = pkg === "http" && app && HOST_WASI_HTTP_INTERFACES.includes(iface);
      if (!HOST_WASI_PACKAGES.includes(pkg) && !http) {
        bad.push({
          name,
          reason:
            pkg === "http"
              ? app
                ? `the host provides wasi:http/{${HOST_WASI_HTTP_INTERFACES.join(",")}} only`
                : "a plugin gets no wasi:http (use the SDK's http.send, which is edgechain:plugin/http; only an edge app, a component exporting wasi:http/incoming-handler, may import wasi:http)"
              : `the host does not provide wasi:${pkg}`,
        });
      } else if (major !== "0" || minor !== "2") {
        bad.push({ name, reason: "the host provides WASI 0.2.x (preview 2) only" });
      }
    } else if (ns === "edgechain" && pkg === "plugin") {
      if (!HOST_EDGECHAIN_INTERFACES.includes(iface)) bad.push({ name, reason: `edgechain:plugin has no imported interface ${iface}` });
      else if (major !== "0" || minor !== "3") bad.push({ name, reason: "the host speaks edgechain:plugin@0.3.x" });
    } else {
      bad.push({ name, reason: `the host does not provide ${ns}:${pkg}` });
    }
  }
  return bad;
}
