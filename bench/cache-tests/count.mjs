// Counts a cache-tests run the way the suite's published results are read.
//
//   node count.mjs SUITE_DIR RESULTS_JSON OUT_DIR
//
// SUITE_DIR is the suite (node_modules/http-cache-tests, or a checkout of the
// repository); RESULTS_JSON is what its CLI printed. A test passes when the
// suite's own `determineTestResult` (the function its results page uses) gives
// ✅ or, for a check, Y: so a test whose dependency failed does not count as
// passed, and the totals are every test of that kind in the suite, browser-only
// ones included. Counted over the published results in the suite's head, this
// gives the figures cache-tests.fyi shows (ATS 9.2.5 132/163 required, httpd
// 131, Squid 122, Varnish 119, nginx 99).
//
// Prints `cache-tests: required P/T, optional P/T, checks P/T`; writes
// OUT_DIR/summary.txt (that line) and OUT_DIR/failing-required.txt (id, result,
// name and the harness's detail of every required test that did not pass).
// Exits non-zero when the run itself broke: results that are not the suite's
// JSON, a test the CLI should have run without a result, or nothing passed.
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, resultsFile, outDir] = process.argv.slice(2)
if (!outDir) {
  console.error('usage: node count.mjs SUITE_DIR RESULTS_JSON OUT_DIR')
  process.exit(2)
}

const load = (rel) => import(pathToFileURL(path.resolve(suiteDir, rel)).href)
const exists = (rel) => fs.existsSync(path.join(suiteDir, rel))

// The npm release keeps its engine at the top (lib/display.mjs) and runs the
// Surrogate-Control suite too; the repository's head has test-engine/lib/results.mjs.
const { determineTestResult } = await load(
  exists('test-engine/lib/results.mjs') ? 'test-engine/lib/results.mjs' : 'lib/display.mjs')
const suites = [...(await load('tests/index.mjs')).default]
if (exists('tests/surrogate-control.mjs') && fs.readFileSync(path.join(suiteDir, 'cli.mjs'), 'utf8').includes('surrogate')) {
  suites.push((await load('tests/surrogate-control.mjs')).default)
}

let results
try {
  results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))
} catch (err) {
  console.error(`cache-tests: ${resultsFile} is not the suite's JSON results: ${err.message}`)
  process.exit(1)
}
if (results === null || typeof results !== 'object' || Array.isArray(results)) {
  console.error(`cache-tests: ${resultsFile} is not a map of test ids to results`)
  process.exit(1)
}

const kinds = { required: 'required', optimal: 'optional', check: 'checks' }
const counts = Object.fromEntries(Object.values(kinds).map(k => [k, { passed: 0, total: 0 }]))
const failing = []
const missing = []
for (const suite of suites) {
  for (const test of suite.tests) {
    const kind = kinds[test.kind || 'required']
    if (kind === undefined) throw new Error(`test ${test.id} has an unknown kind ${test.kind}`)
    counts[kind].total++
    if (test.browser_only) continue
    if (results[test.id] === undefined) {
      missing.push(test.id)
      continue
    }
    const symbol = determineTestResult(suites, test.id, results)[2]
    if (symbol === '✅' || symbol === 'Y') {
      counts[kind].passed++
    } else if (kind === 'required') {
      const detail = Array.isArray(results[test.id]) ? results[test.id].join(': ') : String(results[test.id])
      failing.push([test.id, symbol, `${suite.name}: ${test.name}`, detail].join('\t'))
    }
  }
}

const line = 'cache-tests: ' +
  Object.entries(counts).map(([k, c]) => `${k} ${c.passed}/${c.total}`).join(', ')
fs.mkdirSync(outDir, { recursive: true })
fs.writeFileSync(path.join(outDir, 'summary.txt'), line + '\n')
fs.writeFileSync(path.join(outDir, 'failing-required.txt'),
  '# id\tresult\tsuite: name\tdetail\n' + failing.map(f => f + '\n').join(''))
console.log(line)

if (missing.length) {
  console.error(`cache-tests: the run broke: no result for ${missing.length} tests (${missing.slice(0, 5).join(', ')}, ...)`)
  process.exit(1)
}
if (Object.values(counts).every(c => c.passed === 0)) {
  console.error('cache-tests: the run broke: not one test passed (is the proxy forwarding to the origin?)')
  process.exit(1)
}
