// The floor of a JS plugin: the SDK's glue and the engine's cost of one call.
export default class Noop {
  onRequest() {}
}
